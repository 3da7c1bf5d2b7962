"""Tokens per second delivered by MixtureLoader on one CPU core, against the trainer's need.

Default: 17 domains (the six built-in training domains plus eleven local corpora, one per large
standard-library package, prepared through the project's TFDS builder), random mixture
weights, `loader.batch(step)` for consecutive steps. Setup (building and tokenising) is timed
apart from delivery. With --trainer_steps N > 0 the same run then trains the 1M-parameter
proxy (`admire-jax train --preset=1m`) for N steps on this machine and reports the ratio of
the loader's tokens per second to the trainer's.

With --generated_mb M: 8 domains of generated text, M MB in all, made on the fly; reports
the token cache's build rate on every core (bytes, and with --sentencepiece also a SentencePiece
model trained on a 4 MB sample), the loader's rate from the memory-mapped cache, and the process's
anonymous resident memory (RssAnon) after 100 batches, which should not grow with M. Usage:

    python benchmarks/data_throughput.py [--seq_len 512] [--batch 64] [--steps 400]
                                         [--trainer_steps 30] [--generated_mb 100 [--sentencepiece]]
                                         [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

import numpy as np

from admire_jax.data import (
    ByteTokenizer,
    Domain,
    MixtureLoader,
    builtin_domains,
    data_root,
    local_domain,
    train_sentencepiece,
)
from admire_jax.data.prepare import sample
from admire_jax.data.token_cache import is_cached, prepare_split

LOCAL_PACKAGES = 11  # 6 built-in + 11 local = 17, as many domains as the Pile has
GENERATED_DOMAINS = 8


@dataclasses.dataclass(frozen=True)
class GeneratedSource:
    """Documents of made-up words (a Zipf lexicon of its own), each a pure function of (seed,
    split, index): a corpus of any size with no source files, read by position like a TFDS one
    (the token cache and the loader see what they see for user data)."""

    seed: int
    train_documents: int
    words: int = 400

    @property
    def fingerprint(self) -> str:
        return f"generated-{self.seed}-{self.train_documents}-{self.words}"

    def count(self, split: str) -> int:
        return self.train_documents if split == "train" else max(1, self.train_documents // 20)

    def documents(self, split: str, start: int = 0, stop: int | None = None):
        rng = np.random.default_rng(self.seed)
        lexicon = np.array(
            ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 10))) for _ in range(5000)]
        )
        cdf = np.cumsum(1.0 / np.arange(1, len(lexicon) + 1))
        for i in range(start, self.count(split) if stop is None else stop):
            draw = np.random.default_rng([self.seed, split == "train", i]).random(self.words) * cdf[-1]
            yield " ".join([lexicon[k] for k in np.searchsorted(cdf, draw).tolist()]).encode()


@functools.lru_cache(maxsize=None)
def _lexicon(seed: int) -> tuple[list[str], np.ndarray]:
    """5000 made-up words and their cumulative Zipf weights."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(5000)]
    return words, np.cumsum(1.0 / np.arange(1, len(words) + 1))


def _generated_domains(megabytes: int) -> list:
    """GENERATED_DOMAINS domains of `megabytes` MB of train text in all (about 2.6 kB a document)."""
    documents = int(megabytes * 1e6 / GENERATED_DOMAINS / 2600)
    return [Domain(f"generated_{d}", GeneratedSource(d, documents)) for d in range(GENERATED_DOMAINS)]


def _prepare_rate(domains: list, tokenizer, data_dir: pathlib.Path) -> float | None:
    """Tokens per second of building the train caches not built yet, on every core (None: all were)."""
    settings = {"processes": os.cpu_count() or 1, "progress": False}
    missing = [d for d in domains if not is_cached(d, "train", tokenizer, data_dir)]
    t0 = time.perf_counter()
    tokens = sum(prepare_split(d, "train", tokenizer, data_dir, settings)["tokens"] for d in missing)
    return tokens / (time.perf_counter() - t0) if missing else None


def _rss_anon_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) / 1024


def _local_domains(data_dir: pathlib.Path) -> list:
    """One local corpus per large standard-library package, written as .jsonl."""
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    sizes = {}
    for pkg in sorted(p for p in stdlib.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        files = [f for f in pkg.rglob("*.py") if "test" not in f.parts]
        if pkg.name not in ("test", "site-packages") and len(files) >= 10:
            sizes[pkg] = sum(f.stat().st_size for f in files)
    largest = sorted(sizes, key=lambda p: (-sizes[p], p.name))[:LOCAL_PACKAGES]
    domains = []
    for pkg in sorted(largest):
        jsonl = data_dir / "bench_sources" / f"{pkg.name}.jsonl"
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps({"text": f.read_text(encoding="utf-8", errors="replace")})
            for f in sorted(pkg.rglob("*.py"))
            if "test" not in f.parts and f.stat().st_size
        ]
        jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
        domains.append(local_domain(f"stdlib_{pkg.name}", jsonl, data_dir=data_dir / "bench_tfds"))
    return domains


def _trainer_tokens_per_second(steps: int, data_dir: pathlib.Path) -> float:
    """Median tokens/s the trainer logs for the 1m preset (first logged interval dropped:
    it holds compilation)."""
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable,
            "-m",
            "admire_jax.cli",
            "train",
            "--preset=1m",
            f"--gin.TrainConfig.steps={steps}",
            "--gin.TrainConfig.log_every=5",
            "--gin.TrainConfig.progress_bar=False",
            f"--run_dir={run_dir}",
        ]
        env = {**os.environ, "ADMIRE_JAX_DATA_DIR": str(data_dir)}
        subprocess.run(
            cmd,
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            preexec_fn=lambda: os.sched_setaffinity(0, range(os.cpu_count())),
        )
        with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
            rates = [r["tokens_per_second"] for r in map(json.loads, f) if "tokens_per_second" in r]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seq_len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to")
    parser.add_argument(
        "--trainer_steps", type=int, default=0, help="also train the 1m proxy this many steps (all cores) and compare"
    )
    parser.add_argument("--data_dir", default=None, help="cache root (default: data_root())")
    parser.add_argument("--generated_mb", type=int, default=0, help="8 generated domains of this many MB in all")
    parser.add_argument("--sentencepiece", action="store_true", help="with --generated_mb: also a SentencePiece run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = data_root(args.data_dir)
    extra = {}
    if args.generated_mb:
        domains = _generated_domains(args.generated_mb)
        extra["prepare_tokens_per_second_bytes"] = _prepare_rate(domains, ByteTokenizer(), data_dir)
        if args.sentencepiece:
            spm = train_sentencepiece(sample(domains, 4_000_000), data_dir / "bench_spm" / "spm", vocab_size=8192)
            extra["prepare_tokens_per_second_sentencepiece"] = _prepare_rate(domains, spm, data_dir)
    os.sched_setaffinity(0, {args.core})

    t0 = time.perf_counter()
    if not args.generated_mb:
        domains = builtin_domains(data_dir=data_dir) + _local_domains(data_dir)
    weights = np.random.default_rng(0).dirichlet(np.ones(len(domains)))
    loader = MixtureLoader(
        domains,
        dict(zip([d.name for d in domains], weights)),
        args.seq_len,
        args.batch,
        0,
        ByteTokenizer(),
        data_dir=data_dir,
    )
    setup_s = time.perf_counter() - t0

    loader.batch(0)  # warm-up
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = loader.batch(step)
    delivery_s = time.perf_counter() - t0
    tokens = args.steps * args.batch * args.seq_len
    result = {
        "domains": len(domains),
        "seq_len": args.seq_len,
        "batch": args.batch,
        "steps": args.steps,
        "tokens_per_second": tokens / delivery_s,
        "ms_per_batch": 1e3 * delivery_s / args.steps,
        "setup_seconds": setup_s,
        "train_tokens_cached": int(sum(loader.windows) * args.seq_len),
        "rss_anon_mb_after_batches": _rss_anon_mb(),
        **extra,
        "max_epochs_at_end": max(loader.epochs(args.steps).values()),
        "machine": f"{platform.processor() or platform.machine()}, 1 core pinned ({os.cpu_count()} present)",
        "keys": sorted(batch),
    }
    if args.trainer_steps > 0:
        trainer = _trainer_tokens_per_second(args.trainer_steps, data_dir)
        result["trainer_1m_tokens_per_second"] = trainer
        result["loader_over_trainer"] = result["tokens_per_second"] / trainer
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k:>20}: {v:,.0f}" if isinstance(v, float) and v > 100 else f"{k:>20}: {v}")


if __name__ == "__main__":
    main()
