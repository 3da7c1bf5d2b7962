"""How far an experiment's objective moves with the mixture, against how far the training seed moves it.

Before an experiment is worth searching, the mixtures it can choose between must differ by more than
a retrained trial differs from itself. This script trains a fixed screen of mixtures with several
seeds at chosen rungs of an experiment file, exactly as the experiment's trials are trained (its
trial bindings, trainer and executor), and reports, per rung:

- each mixture's objective: mean over seeds and its standard error;
- the seed-to-seed standard deviation of one trial (pooled over mixtures);
- each mixture's paired difference to uniform (same seeds) and that difference in standard errors,
  the check `admire-jax optimize` makes of its recommendation;
- Spearman correlations of the mixtures' means between every rung and the target rung.

Screens: 'uniform', 'leave_one_out' (uniform over every domain but one), 'heavy' (half the weight on
one domain, the rest spread evenly), one of those by name ('without_licenses', 'c_code_heavy'), or a
JSON file {name: {domain: weight}}. --trial_gin appends bindings to every trial's (after the
experiment's own), to screen a training setting without editing the experiment file. Trials that already
have a result.json in --out are not trained again, so an interrupted screen resumes.

  python benchmarks/mixture_screen.py --gin_file configs/experiments/demo.gin --rungs m \
      --screens uniform,leave_one_out --seeds 0,1,2 --out runs/screen --json screen.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from admire_jax.experiment import config
from admire_jax.experiment.report import sem
from admire_jax.train.result import RESULT_FILE


def screen_mixtures(names: Sequence[str], domains: Sequence[str]) -> dict[str, dict[str, float]]:
    """{mixture name: {domain: weight}} of the named screens, in order."""
    n = len(domains)
    mixtures: dict[str, dict[str, float]] = {}
    for name in names:
        if name == "uniform":
            mixtures["uniform"] = {d: 1.0 / n for d in domains}
        elif name == "leave_one_out":
            for left in domains:
                mixtures[f"without_{left}"] = {d: (0.0 if d == left else 1.0 / (n - 1)) for d in domains}
        elif name == "heavy":
            for heavy in domains:
                mixtures[f"{heavy}_heavy"] = {d: (0.5 if d == heavy else 0.5 / (n - 1)) for d in domains}
        elif name.startswith("without_") and name[len("without_") :] in domains:
            left = name[len("without_") :]
            mixtures[name] = {d: (0.0 if d == left else 1.0 / (n - 1)) for d in domains}
        elif name.endswith("_heavy") and name[: -len("_heavy")] in domains:
            heavy = name[: -len("_heavy")]
            mixtures[name] = {d: (0.5 if d == heavy else 0.5 / (n - 1)) for d in domains}
        elif Path(name).is_file():
            for key, weights in json.loads(Path(name).read_text()).items():
                unknown = set(weights) - set(domains)
                if unknown:
                    raise SystemExit(f"mixture {key!r} in {name} names unknown domain(s) {sorted(unknown)}")
                total = sum(float(v) for v in weights.values())
                mixtures[key] = {d: float(weights.get(d, 0.0)) / total for d in domains}
        else:
            known = "uniform, leave_one_out, heavy, without_<domain>, <domain>_heavy or a JSON file"
            raise SystemExit(f"unknown screen {name!r}: {known}")
    return mixtures


def run_trials(
    exp: config.LoadedExperiment, plan: Sequence[tuple[str, str, dict, int]], out: Path, extra: Sequence[str] = ()
) -> float:
    """Trains every (rung, name, mixture, seed) of `plan` without a result in `out`, each with the
    experiment's trial bindings and then `extra`; returns the seconds taken."""
    executor, spec = exp.runtime.executor, exp.spec
    todo = [p for p in plan if not (_run_dir(out, p) / RESULT_FILE).exists()]
    running: dict[int, tuple] = {}
    started = time.time()
    while todo or running:
        for slot in range(executor.slots):
            if slot in running or not todo:
                continue
            rung_name, _, mixture, seed = item = todo.pop(0)
            run_dir = _run_dir(out, item)
            command = config.trial_command(spec, rung_name, seed, run_dir, mixture, extra)
            running[slot] = (item, executor.submit(command, run_dir, slot))
        time.sleep(0.5)
        for slot, (item, job) in list(running.items()):
            if job.done():
                del running[slot]
                print(
                    f"{time.time() - started:7.0f} s  {item[0]} {item[1]} seed {item[3]}: {job.error() or 'ok'}",
                    flush=True,
                )
    return time.time() - started


def summarise(values: Mapping[tuple[str, str, int], float], target: str) -> dict:
    """Per rung: mixture means and SEs, pooled seed SD, paired differences to uniform; rung Spearmans."""
    rungs = sorted({r for r, _, _ in values}, key=lambda r: r != target)
    summary: dict = {"rungs": {}, "spearman_to_target": {}}
    means_by_rung = {}
    for rung in rungs:
        names = list(dict.fromkeys(n for r, n, _ in values if r == rung))
        seeds = sorted({s for r, _, s in values if r == rung})
        table = {n: np.array([values.get((rung, n, s), math.nan) for s in seeds]) for n in names}
        residuals = np.concatenate([v[np.isfinite(v)] - np.nanmean(v) for v in table.values()])
        dof = sum(int(np.isfinite(v).sum()) - 1 for v in table.values())
        rows = {}
        for name, v in table.items():
            ok = v[np.isfinite(v)]
            row = {"mean": float(ok.mean()), "se": sem(ok), "seeds": int(ok.size)}
            if "uniform" in table and name != "uniform":
                diff = v - table["uniform"]
                diff = diff[np.isfinite(diff)]
                se = sem(diff)
                in_se = float(diff.mean() / se) if se > 0 else math.nan
                row.update(paired_difference=float(diff.mean()), paired_se=se, paired_in_se=in_se)
            rows[name] = row
        means_by_rung[rung] = {n: r["mean"] for n, r in rows.items()}
        summary["rungs"][rung] = {
            "mixtures": rows,
            "seed_sd": float(np.sqrt((residuals**2).sum() / dof)) if dof > 0 else math.nan,
        }
    for rung in rungs[1:]:
        shared = [n for n in means_by_rung[target] if n in means_by_rung[rung]]
        rho = stats.spearmanr([means_by_rung[rung][n] for n in shared], [means_by_rung[target][n] for n in shared])
        summary["spearman_to_target"][rung] = float(rho.statistic)
    return summary


def markdown(summary: dict, objective: str) -> str:
    """The summary as tables: one per rung."""
    lines = []
    for rung, block in summary["rungs"].items():
        lines += [
            f"Rung {rung}: {objective}; seed-to-seed SD of one trial {block['seed_sd']:.4f}",
            "",
            "| mixture | mean ± SE | seeds | paired difference to uniform | in SE |",
            "|---|---|---|---|---|",
        ]
        for name, row in sorted(block["mixtures"].items(), key=lambda kv: kv[1]["mean"]):
            diff = (
                f"{row['paired_difference']:+.4f} ± {row['paired_se']:.4f} | {row['paired_in_se']:+.1f}"
                if "paired_difference" in row
                else "| "
            )
            lines.append(f"| {name} | {row['mean']:.4f} ± {row['se']:.4f} | {row['seeds']} | {diff} |")
        lines.append("")
    for rung, rho in summary["spearman_to_target"].items():
        lines.append(f"Spearman of mixture means, {rung} against the target rung: {rho:.2f}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gin_file", action="append", required=True, help="the experiment file(s)")
    p.add_argument("--gin", action="append", default=[], help="extra binding NAME=VALUE")
    p.add_argument("--rungs", help="comma-separated rungs to train at (default: the target rung)")
    p.add_argument("--screens", default="uniform,leave_one_out", help="uniform, leave_one_out, heavy, or JSON")
    p.add_argument("--seeds", default="0,1,2", help="trial seeds, comma-separated")
    p.add_argument("--trial_gin", action="append", default=[], help="binding NAME=VALUE added to every trial")
    p.add_argument("--out", required=True, help="folder of the screen's run folders")
    p.add_argument("--json", help="write the per-trial values and the summary here")
    p.add_argument("--markdown", help="write the summary tables here")
    a = p.parse_args(argv)
    exp = config.load(a.gin_file, a.gin)
    spec = exp.spec
    rungs = a.rungs.split(",") if a.rungs else [spec.ladder.target]
    for rung in rungs:
        spec.ladder.rung(rung)  # an unknown rung is refused here, before anything is trained
    mixtures = screen_mixtures(a.screens.split(","), spec.domains)
    seeds = [int(s) for s in a.seeds.split(",")]
    plan = [(r, n, m, s) for s in seeds for r in rungs for n, m in mixtures.items()]
    out = Path(a.out)
    seconds = run_trials(exp, plan, out, a.trial_gin)
    values = {}
    for item in plan:
        result = json.loads((_run_dir(out, item) / RESULT_FILE).read_text())
        values[(item[0], item[1], item[3])] = spec.objective.value(result.get("val_loss"), result.get("scores"))
    summary = summarise(values, spec.ladder.target)
    text = markdown(summary, spec.objective.describe())
    print(text)
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "gin_files": a.gin_file,
        "gin_bindings": a.gin,
        "trial_bindings": a.trial_gin,
        "seconds": seconds,
        "mixtures": mixtures,
        "values": [{"rung": r, "mixture": n, "seed": s, "objective": v} for (r, n, s), v in values.items()],
        "summary": summary,
    }
    if a.json:
        Path(a.json).write_text(json.dumps(record, indent=1))
    if a.markdown:
        Path(a.markdown).write_text(text)


def _run_dir(out: Path, item: tuple) -> Path:
    rung, name, _, seed = item
    return out / f"{rung}_{name}_seed{seed}"


if __name__ == "__main__":
    main()
