"""Do the smallest presets rank data mixtures alike? Train 1m, 10m and 60m on the same mixtures.

Multi-fidelity mixture search trusts a cheap proxy only as far as it orders mixtures the way a
larger model does. This script trains each preset on a handful of deliberately different mixtures
of the built-in corpus (fixed seed, each preset's own learning rate and schedule from its gin file),
through the trainer's own entry point (`admire-jax train`, called in-process), and reports each
run's validation loss and the Spearman rank correlation of every pair of presets over the mixtures.

Two objectives are ranked: the mean loss over the six training domains, and the loss on the
held-out target domain (`python_reference`, never trained on). The mixtures' unigram models (their
byte frequencies, no context) are ranked alongside as a reference: a preset whose losses sit near
the unigram losses has not yet learnt anything a mixture could teach beyond byte frequencies.

Reduced budget (a CPU-sized check, not the presets' default budgets): every preset trains on the
same number of tokens (`--tokens`, default 32,768) at one shared reduced batch shape (`--batch` x
`--seq_len`, default 4 x 128, so 64 optimiser steps and the same batches for every preset) instead
of its own batch and sequence length, and validates on `--validation_sequences` fixed windows per
domain. Each preset keeps its own peak learning rate and cosine decay; the warm-up is `--warmup`
of the run (the presets' 5% is 1-3 steps at these lengths; after a 1-step warm-up 60m's loss
jumped from 6.4 to 11.2 at step 3). Runs are
resumable: a run directory holding an "ok" result.json for the same budget is reused, so an
interrupted script picks up where it stopped, and a finished one only rebuilds its tables.

  python benchmarks/rung_agreement.py --out_dir runs/rung_agreement --json rung.json --markdown rung.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

TARGET = "python_reference"
TRAIN_DOMAINS = ("python_code", "python_tests", "c_code", "docstrings", "markdown", "licenses")


def _tilted(heavy: Mapping[str, float]) -> dict[str, float]:
    """A mixture that gives `heavy` its weights and splits the remainder evenly over the rest."""
    rest = [d for d in TRAIN_DOMAINS if d not in heavy]
    share = (1.0 - sum(heavy.values())) / len(rest)
    return {d: float(heavy.get(d, share)) for d in TRAIN_DOMAINS}


# Every domain keeps some weight, so each mixture is a plausible search candidate, not a one-hot.
MIXTURES: dict[str, dict[str, float]] = {
    "uniform": _tilted({}),
    **{f"{d}_heavy": _tilted({d: 0.6}) for d in TRAIN_DOMAINS},
}
OBJECTIVES = ("mean_train_domains", TARGET)


def objectives(val_loss: Mapping[str, float | None]) -> dict[str, float]:
    """The two ranked quantities of one run: mean training-domain loss and target loss (nats/token)."""
    train = [val_loss.get(d) for d in TRAIN_DOMAINS]
    if any(v is None for v in train) or val_loss.get(TARGET) is None:
        raise ValueError(f"run lacks a finite validation loss: {dict(val_loss)}")
    return {"mean_train_domains": float(np.mean(train)), TARGET: float(val_loss[TARGET])}


def unigram_losses(
    mixture: Mapping[str, float], frequencies: Mapping[str, np.ndarray], windows: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, float]:
    """Validation loss per domain of the mixture's unigram model (no context at all).

    `frequencies` maps each training domain to its token distribution [V]; the model predicts
    every token from the mixture-weighted sum of them. `windows` are validation sets (targets and
    loss_mask [N, L]). A trained model near these losses has learnt little beyond byte frequencies.
    """
    log_p_V = np.log(sum(w * frequencies[d] for d, w in mixture.items()))
    return {
        d: float(-(log_p_V[v["targets"]] * v["loss_mask"]).sum() / v["loss_mask"].sum()) for d, v in windows.items()
    }


def unigram_objectives(validation_sequences: int, seq_len: int) -> dict[str, dict[str, float]]:
    """Both objectives of every mixture under its unigram model, on the runs' validation windows
    (token frequencies of each built-in training split, add-one smoothed)."""
    from admire_jax.data import ByteTokenizer, builtin_domains, builtin_targets, validation_set
    from admire_jax.data.stream import token_stream

    tokenizer = ByteTokenizer()
    domains = builtin_domains()
    frequencies = {}
    for d in domains:
        counts_V = np.bincount(token_stream(d, "train", tokenizer), minlength=tokenizer.vocab_size) + 1.0
        frequencies[d.name] = counts_V / counts_V.sum()
    windows = {
        d.name: validation_set(d, tokenizer, seq_len, validation_sequences) for d in domains + builtin_targets([TARGET])
    }
    return {name: objectives(unigram_losses(mixture, frequencies, windows)) for name, mixture in MIXTURES.items()}


def rank_agreement(losses: Mapping[str, Mapping[str, float]]) -> list[dict]:
    """Spearman correlation of every preset pair over the mixtures both were run on.

    `losses` maps preset -> {mixture: loss}. Returns rows {a, b, n, spearman, p_value}.
    """
    rows = []
    for a, b in itertools.combinations(losses, 2):
        shared = sorted(set(losses[a]) & set(losses[b]))
        if len(shared) < 3:
            raise ValueError(f"{a} and {b} share {len(shared)} mixtures; need >= 3 to rank")
        rho, p = stats.spearmanr([losses[a][m] for m in shared], [losses[b][m] for m in shared])
        rows.append({"a": a, "b": b, "n": len(shared), "spearman": float(rho), "p_value": float(p)})
    return rows


def markdown(runs: Sequence[Mapping], agreement: Mapping[str, list[dict]]) -> str:
    """Loss per mixture and preset for each objective, then the pairwise Spearman table."""
    presets = list(dict.fromkeys(r["preset"] for r in runs))
    mixtures = list(dict.fromkeys(r["mixture_name"] for r in runs))
    by_key = {(r["preset"], r["mixture_name"]): r for r in runs}
    lines = []
    for objective in OBJECTIVES:
        lines += [
            f"Validation loss, {objective} (nats/token; rank among mixtures in brackets):",
            "",
            "| mixture | " + " | ".join(presets) + " |",
            "|---" * (len(presets) + 1) + "|",
        ]
        ranks = {
            p: _ranks({m: by_key[p, m]["objectives"][objective] for m in mixtures if (p, m) in by_key}) for p in presets
        }
        for m in mixtures:
            cells = [
                f"{by_key[p, m]['objectives'][objective]:.4f} ({ranks[p][m]})" if (p, m) in by_key else "-"
                for p in presets
            ]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["| objective | pair | mixtures | Spearman | p-value |", "|---|---|---|---|---|"]
    for objective, rows in agreement.items():
        for r in rows:
            lines.append(
                f"| {objective} | {r['a']} vs {r['b']} | {r['n']} | {r['spearman']:.3f} | {r['p_value']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def _ranks(values: Mapping[str, float]) -> dict[str, int]:
    order = sorted(values, key=values.get)
    return {m: order.index(m) + 1 for m in values}


def train_one(preset: str, mixture_name: str, args: argparse.Namespace) -> dict:
    """One `admire-jax train` run (in-process), or the finished run already in its directory."""
    from admire_jax.train import cli

    run_dir = os.path.join(args.out_dir, f"{preset}-{mixture_name}")
    steps = max(1, args.tokens // (args.batch * args.seq_len))
    path = os.path.join(run_dir, "result.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            done = json.load(f)
        if done.get("status") == "ok" and done.get("tokens") == steps * args.batch * args.seq_len:
            return done
    os.makedirs(run_dir, exist_ok=True)
    mixture_file = os.path.join(run_dir, "mixture.json")
    with open(mixture_file, "w", encoding="utf-8") as f:
        json.dump(MIXTURES[mixture_name], f)
    code = cli.main(
        [
            f"--preset={preset}",
            f"--mixture={mixture_file}",
            f"--run_dir={run_dir}",
            f"--gin.TrainConfig.steps={steps}",
            f"--gin.GLOBAL_BATCH={args.batch}",
            f"--gin.SEQ_LEN={args.seq_len}",
            f"--gin.TrainConfig.seed={args.seed}",
            f"--gin.learning_rate_schedule.warmup_steps={args.warmup}",
            f"--gin.proxy_data.validation_sequences={args.validation_sequences}",
            "--gin.TrainConfig.checkpoint_every=100000",
            "--gin.TrainConfig.progress_bar=False",
        ]
    )
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if code != 0:
        raise RuntimeError(f"{preset} on {mixture_name} ended {record['status']}: {record['error']}")
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["1m", "10m", "60m"])
    p.add_argument("--mixtures", nargs="+", default=list(MIXTURES), choices=list(MIXTURES))
    p.add_argument("--tokens", type=int, default=32_768, help="training tokens per run, every preset")
    p.add_argument("--batch", type=int, default=4, help="sequences per step (reduced, shared)")
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--warmup",
        type=float,
        default=0.125,
        help="warm-up steps, or a fraction of the run if < 1 (the presets' 5%% is 1-3 steps at these lengths)",
    )
    p.add_argument("--validation_sequences", type=int, default=16, help="fixed windows per domain")
    p.add_argument(
        "--unigram",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also rank the mixtures by their unigram (byte-frequency) models' losses",
    )
    p.add_argument("--out_dir", default="runs/rung_agreement")
    p.add_argument("--json", help="write runs and correlations here")
    p.add_argument("--markdown", help="write the Markdown tables here")
    args = p.parse_args()
    started = time.time()
    runs = []
    for mixture_name in args.mixtures:  # mixture-major: a cut-off run still has complete triples
        for preset in args.presets:
            record = train_one(preset, mixture_name, args)
            run = {
                "preset": preset,
                "mixture_name": mixture_name,
                "mixture": MIXTURES[mixture_name],
                "tokens": record["tokens"],
                "steps": record["steps"],
                "wall_seconds": record["wall_seconds"],
                "val_loss": record["val_loss"],
                "objectives": objectives(record["val_loss"]),
            }
            runs.append(run)
            print(json.dumps({k: run[k] for k in ("preset", "mixture_name", "wall_seconds", "objectives")}), flush=True)
    presets = list(args.presets)
    if args.unigram:  # the no-context reference, ranked like one more preset
        baseline = unigram_objectives(args.validation_sequences, args.seq_len)
        runs += [
            {"preset": "unigram", "mixture_name": m, "mixture": MIXTURES[m], "objectives": baseline[m]}
            for m in args.mixtures
        ]
        presets.append("unigram")
    agreement = {
        o: rank_agreement(
            {pr: {r["mixture_name"]: r["objectives"][o] for r in runs if r["preset"] == pr} for pr in presets}
        )
        for o in OBJECTIVES
    }
    settings = {k: getattr(args, k) for k in ("tokens", "batch", "seq_len", "seed", "warmup", "validation_sequences")}
    table = markdown(runs, agreement)
    print(table)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"settings": settings, "wall_seconds": time.time() - started, "runs": runs, "spearman": agreement},
                f,
                indent=1,
            )
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table)


if __name__ == "__main__":
    main()
