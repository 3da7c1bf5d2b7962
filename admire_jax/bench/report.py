"""Files a replay writes: summary.json, curves.csv, table.md and regret.png."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from admire_jax.bench import metrics
from admire_jax.bench.replay import Episodes
from admire_jax.bench.table import ReplayTask


def curves_frame(task: ReplayTask, episodes: Episodes, seeds: list[int]) -> pd.DataFrame:
    """Regret against cumulative cost, one row per (method, seed, recommendation)."""
    frames = []
    for method, traces in episodes.items():
        for seed, trace in zip(seeds, traces):
            last_pick_K = trace.picked_S[trace.runs_K - 1]
            frames.append(
                pd.DataFrame(
                    {
                        "objective": task.objective,
                        "method": method,
                        "seed": seed,
                        "step": np.arange(trace.regret_K.size),
                        "runs": trace.runs_K,
                        "cum_cost": trace.cum_cost_K,
                        "picked_fidelity": np.array(task.rungs)[task.fidelity_of_R[last_pick_K]],
                        "recommended_row": task.row_id_R[trace.recommended_K],
                        "verified": trace.verified_K,
                        "regret": trace.regret_K,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def markdown_table(summary: dict) -> str:
    """Cost-to-best per method and variant, then speed-ups, for every objective."""
    per_objective = summary.get("per_objective", {summary["objective"]: summary})
    lines = [
        f"Replay of `{summary['table']}`, target `{summary['target_fidelity']}`, {summary['seeds']} seeds, "
        f"budget {_fmt(summary['budget'])}, tol {_fmt(summary['tol'])}. Cost-to-best: median [q25, q75] "
        "(solved fraction); unsolved episodes count at the budget.",
        "",
    ]
    for objective, s in per_objective.items():
        scored = f", scored on `{s['truth_col']}`" if s.get("truth_col") else ""
        direction = "max" if s["maximize"] else "min"
        lines += [
            f"### {objective} ({direction}imised, best {s['best_target_value']:.5g}{scored})",
            "",
            "| method | " + " | ".join(metrics.VARIANTS) + " | runs per fidelity |",
            "|---" * (len(metrics.VARIANTS) + 2) + "|",
        ]
        for method, m in s["methods"].items():
            cells = [
                f"{_fmt(c['median'])} [{_fmt(c['q25'])}, {_fmt(c['q75'])}] ({c['solved_fraction']:.2f})"
                for c in (m["cost_to_best"][v] for v in metrics.VARIANTS)
            ]
            counts = ", ".join(f"{k}: {v}" for k, v in m["fidelity_counts"].items())
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {counts} |")
        lines += ["", "| speed-up (held) | value | 90% CI | censored |", "|---|---|---|---|"]
        for pair, value in s["speedup"].items():
            lo, hi = s["speedup_ci"][pair]
            lines.append(f"| {pair} | {_fmt(value)} | [{_fmt(lo)}, {_fmt(hi)}] | {s['censored'][pair]} |")
        lines.append("")
    if "speedup_geomean" in summary:
        lines += ["### Geometric mean of speed-ups over objectives", "", "| pair | value |", "|---|---|"]
        lines += [f"| {pair} | {_fmt(v)} |" for pair, v in summary["speedup_geomean"].items()]
    return "\n".join(lines) + "\n"


def plot_regret(path: str, tasks: list[ReplayTask], all_episodes: list[Episodes], budget: float) -> None:
    """Median regret with an IQR band against cumulative cost, one line per method, a panel per objective."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    smallest = float(min(t.cost_R.min() for t in tasks))
    grid_G = metrics.cost_grid(smallest, budget)
    cols = min(4, len(tasks))
    rows = -(-len(tasks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), squeeze=False)
    for ax, task, episodes in zip(axes.flat, tasks, all_episodes):
        for method, traces in episodes.items():
            regret_NxG = np.stack([metrics.regret_on_grid(t, grid_G) for t in traces])
            started_G = ~np.isnan(regret_NxG).any(axis=0)
            q25, med, q75 = np.percentile(regret_NxG[:, started_G], [25, 50, 75], axis=0)
            (line,) = ax.step(grid_G[started_G], med, where="post", label=method)
            ax.fill_between(grid_G[started_G], q25, q75, step="post", alpha=0.2, color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0.0)
        ax.set_title(task.objective, fontsize=9)
        ax.set_xlabel("cumulative cost")
        ax.set_ylabel("regret at target")
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(
    out_dir: str, summary: dict, tasks: list[ReplayTask], all_episodes: list[Episodes], seeds: list[int]
) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    pd.concat([curves_frame(t, e, seeds) for t, e in zip(tasks, all_episodes)]).to_csv(
        os.path.join(out_dir, "curves.csv"), index=False
    )
    with open(os.path.join(out_dir, "table.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(summary))
    plot_regret(os.path.join(out_dir, "regret.png"), tasks, all_episodes, summary["budget"])
