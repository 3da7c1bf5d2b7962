"""A stand-in trainer with a known answer, for exercising the experiment loop without training.

It takes the same arguments as `admire-jax train` (`--preset`, `--mixture`, `--run_dir`,
`--gin.NAME=VALUE`), writes a result.json of the same shape and returns like it, but its
validation losses are a fixed smooth function of the mixture and the preset size, its score
"accuracy" (higher is better) rises as the target loss falls, and its FLOPs are
6 * size * tokens. Use it to dry-run an executor or a cluster set-up
(`experiment.trainer = 'admire_jax.experiment.synthetic:main'`), and in the tests of the loop.

Extra bindings it reads: SYNTHETIC_SECONDS (sleep, to look like a real run), SYNTHETIC_FAIL_ABOVE
(diverge when the weight of the first domain exceeds this value), SYNTHETIC_PREEMPT ({run folder
name: n}: the first n starts of that trial stop half way as a preempted run does, result.json
status `preempted` with nothing to resume from, exit code 75).
"""

from __future__ import annotations

import ast
import json
import math
import os
import sys
import time

from admire_jax.data.builtin_sources import TARGET_DOMAINS
from admire_jax.experiment import invocations
from admire_jax.train.result import make_result, write_result

TARGET = TARGET_DOMAINS[0]  # the one the score "accuracy" follows


def _args(argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    flags, gin = {}, {}
    for item in argv:
        key, _, value = item.partition("=")
        if key.startswith("--gin."):
            gin[key[len("--gin.") :].strip()] = value.strip()
        elif key.startswith("--"):
            flags[key[2:]] = value
    return flags, gin


def preset_size(preset: str) -> float:
    """'10m' -> 1e7, '1b' -> 1e9."""
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}
    return float(preset[:-1]) * scale[preset[-1].lower()]


def losses(mixture: dict[str, float], size: float) -> dict[str, float]:
    """Per-domain loss: a size term plus a bowl around a fixed optimum that differs by domain."""
    names = sorted(mixture)
    w = [mixture[n] for n in names]
    out = {}
    for k, target in enumerate(names + list(TARGET_DOMAINS)):
        optimum = [(1.0 + ((i + k) % len(names))) for i in range(len(names))]
        total = sum(optimum)
        bowl = sum((wi - oi / total) ** 2 for wi, oi in zip(w, optimum))
        out[target] = 2.0 + 30.0 / math.log(size) + 4.0 * bowl
    return out


def optimum(domains: list[str], target: str = TARGET) -> dict[str, float]:
    """The mixture of `domains` at the bottom of `target`'s loss bowl (where `accuracy` peaks for TARGET)."""
    names = sorted(domains)
    k = (names + list(TARGET_DOMAINS)).index(target)
    weights = [1.0 + ((i + k) % len(names)) for i in range(len(names))]
    return {n: w / sum(weights) for n, w in zip(names, weights)}


def accuracy(mixture: dict[str, float], size: float) -> float:
    """A score to maximise: 1 at the target loss's floor, falling as that loss rises."""
    return math.exp(-(losses(mixture, size)[TARGET] - 2.0))


def main(argv: list[str]) -> int:
    flags, gin = _args(argv)
    started = time.time()
    print(f"synthetic: training {flags['run_dir']}", flush=True)
    with open(flags["mixture"], encoding="utf-8") as f:
        mixture = {k: float(v) for k, v in json.load(f).get("mixture", {}).items()}
    time.sleep(float(gin.get("SYNTHETIC_SECONDS", "0")))
    size, tokens = preset_size(flags["preset"]), int(float(gin["TRAIN_TOKENS"]))
    preemptions = ast.literal_eval(gin.get("SYNTHETIC_PREEMPT", "{}")).get(os.path.basename(flags["run_dir"]), 0)
    if len(invocations.earlier(flags["run_dir"])) < preemptions:
        return _preempted(flags, mixture, size, tokens, time.time() - started)
    fail_above = float(gin.get("SYNTHETIC_FAIL_ABOVE", "2"))
    diverged = mixture[sorted(mixture)[0]] > fail_above
    record = make_result(
        mixture=mixture,
        preset=flags["preset"],
        params=int(size),
        tokens=tokens,
        steps=1,
        wall_seconds=time.time() - started,
        flops=6.0 * size * tokens,
        val_loss={d: math.nan for d in losses(mixture, size)} if diverged else losses(mixture, size),
        status="diverged" if diverged else "ok",
        error="diverged at step 1" if diverged else None,
        scores={"accuracy": None if diverged else accuracy(mixture, size)},
    )
    write_result(flags["run_dir"], record)
    return 1 if diverged else 0


def _preempted(flags: dict[str, str], mixture: dict[str, float], size: float, tokens: int, seconds: float) -> int:
    """Ends the run as a preempted one half way, without a checkpoint."""
    record = make_result(
        mixture=mixture,
        preset=flags["preset"],
        params=int(size),
        tokens=tokens // 2,
        steps=1,
        wall_seconds=seconds,
        flops=6.0 * size * (tokens // 2),
        val_loss={},
        status="failed",
    )
    record.update(status=invocations.PREEMPTED, step=1, resumable=False)
    write_result(flags["run_dir"], record)
    return invocations.PREEMPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
