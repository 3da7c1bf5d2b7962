"""README's main job at several experiment seeds: its wall time, and its recommendation against uniform.

For each seed this runs the command README gives (`admire-jax optimize` with the demo's experiment
file, plus `--gin.SEED=N`) in its own experiment folder, one seed after the other so that each has
the machine to itself, and then reads the experiment's store: the rungs its search trials used, and
the check, where the recommended and the uniform mixture are trained at the target rung with the
same check seeds. The table gives per seed the wall time, the trials per rung, both mixtures' mean
and standard error over the check seeds, and their paired difference in standard errors (positive:
the recommendation is better), the figure the experiment's report.md states. A seed whose folder
already holds a finished experiment (its recommendation.json) is read, not run again.

  python benchmarks/demo_seeds.py --seeds 100,101,102,103,104 --out runs/demo_seeds \
      --json benchmarks/results/demo/seeds.json --markdown benchmarks/results/demo/seeds.md
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from admire_jax.experiment import config
from admire_jax.experiment.report import check_values, paired_gain
from admire_jax.experiment.store import SEARCH, TrialStore

DEMO = "configs/experiments/demo.gin"
RECOMMENDATION = "recommendation.json"


def run_seed(gin_files: Sequence[str], seed: int, exp_dir: Path, bindings: Sequence[str]) -> float | None:
    """Runs the demo at `seed` in `exp_dir` unless it has finished there; its wall seconds (None if read)."""
    if (exp_dir / RECOMMENDATION).exists():
        return None
    command = [sys.executable, "-m", "admire_jax.cli", "optimize", *(f"--gin_file={f}" for f in gin_files)]
    command += [f"--exp_dir={exp_dir}", f"--gin.SEED={seed}", *(f"--gin.{b}" for b in bindings)]
    started = time.time()
    subprocess.run(command, check=True)
    return time.time() - started


def seed_row(gin_files: Sequence[str], seed: int, exp_dir: Path, bindings: Sequence[str]) -> dict:
    """What the experiment at `seed` found: search trials per rung, the check and its paired gain."""
    exp = config.load(gin_files, [f"SEED = {seed}", *bindings])
    trials = TrialStore(exp_dir / "trials.sqlite").trials()
    per_rung = collections.Counter(t.rung for t in trials if t.role == SEARCH)
    check = check_values(trials, exp.spec)
    gain = paired_gain(check, exp.spec.objective.maximize)
    recommended = json.loads((exp_dir / RECOMMENDATION).read_text())["mixture"]
    return {
        "seed": seed,
        "search_trials": dict(per_rung),
        "recommended_mixture": recommended,
        "recommended": check.get("recommended"),
        "uniform": check.get("uniform"),
        "paired_gain": gain,
        "paired_gain_in_se": gain["mean"] / gain["sem"] if gain and gain["sem"] > 0 else math.nan,
    }


def markdown(rows: Sequence[dict]) -> str:
    lines = [
        "| SEED | wall time | search trials per rung | recommended: mean ± SE | uniform: mean ± SE "
        "| paired gain ± SE | in SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        wall = f"{r['wall_seconds'] / 60:.1f} min" if r.get("wall_seconds") else "(read)"
        rungs = ", ".join(f"{k} {v}" for k, v in sorted(r["search_trials"].items()))
        fmt = lambda c: f"{c['mean']:.4f} ± {c['sem']:.4f}" if c else "n/a"
        gain = r["paired_gain"]
        lines.append(
            f"| {r['seed']} | {wall} | {rungs} | {fmt(r['recommended'])} | {fmt(r['uniform'])} | "
            + (f"{gain['mean']:+.4f} ± {gain['sem']:.4f} | {r['paired_gain_in_se']:+.1f} |" if gain else "n/a | |")
        )
    beat = sum(1 for r in rows if r["paired_gain_in_se"] > 2)
    worse = sum(1 for r in rows if r["paired_gain_in_se"] < -1)
    lines += ["", f"Better than uniform by more than 2 SE: {beat} of {len(rows)}; worse by more than 1 SE: {worse}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gin_file", action="append", help=f"experiment file(s) (default: {DEMO})")
    p.add_argument("--gin", action="append", default=[], help="extra binding NAME=VALUE for every seed")
    p.add_argument("--seeds", default="100,101,102,103,104")
    p.add_argument("--out", required=True, help="one experiment folder per seed under here")
    p.add_argument("--json")
    p.add_argument("--markdown")
    a = p.parse_args(argv)
    gin_files = a.gin_file or [DEMO]
    rows = []
    for seed in (int(s) for s in a.seeds.split(",")):
        exp_dir = Path(a.out) / f"seed{seed}"
        wall = run_seed(gin_files, seed, exp_dir, a.gin)
        rows.append({**seed_row(gin_files, seed, exp_dir, a.gin), "wall_seconds": wall})
        print(markdown(rows), flush=True)
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "gin_files": gin_files,
        "gin_bindings": a.gin,
        "rows": rows,
    }
    if a.json:
        Path(a.json).write_text(json.dumps(record, indent=1))
    if a.markdown:
        Path(a.markdown).write_text(markdown(rows))


if __name__ == "__main__":
    main()
