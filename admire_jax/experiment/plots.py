"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from admire_jax.experiment.store import Trial  # noqa: E402


def close(fig) -> None:
    plt.close(fig)


def best_so_far(
    trials: Sequence[Trial],
    values: Sequence[float],
    costs: Sequence[float],
    target: str,
    unit: str,
    maximize: bool = False,
):
    """Best objective so far on each rung against cumulative cost (the target rung drawn boldest)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    cumulative = np.cumsum(costs)
    better = max if maximize else min
    for rung in dict.fromkeys(t.rung for t in trials):
        xs, ys, best = [], [], -math.inf if maximize else math.inf
        for t, v, c in zip(trials, values, cumulative):
            if t.rung == rung and math.isfinite(v):
                best = better(best, v)
            if math.isfinite(best):
                xs.append(c)
                ys.append(best)
        ax.step(xs, ys, where="post", label=rung, linewidth=3 if rung == target else 1.5, marker="o", markersize=4)
    ax.set_xlabel(f"cumulative cost ({unit})")
    ax.set_ylabel("best objective so far")
    ax.set_title(f"best objective so far ({'highest' if maximize else 'lowest'}), per rung")
    ax.legend()
    return fig


def rung_per_trial(trials: Sequence[Trial], rungs: Sequence[str]):
    fig, ax = plt.subplots(figsize=(6, 3))
    ok = [t.status == "ok" for t in trials]
    y = [rungs.index(t.rung) for t in trials]
    x = np.arange(1, len(trials) + 1)
    ax.scatter(x[ok], np.array(y)[ok], marker="o", label="ok")
    if not all(ok):
        bad = ~np.array(ok)
        ax.scatter(x[bad], np.array(y)[bad], marker="x", color="red", label="failed / diverged")
    ax.set_yticks(range(len(rungs)), rungs)
    ax.set_xlabel("trial (order of proposal)")
    ax.set_title("rung of each trial")
    ax.legend()
    return fig


def mixture_bars(recommended: Mapping[str, float], uniform: Mapping[str, float]):
    names = list(recommended)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 3.5))
    ax.bar(x - 0.2, [recommended[n] for n in names], 0.4, label="recommended")
    ax.bar(x + 0.2, [uniform[n] for n in names], 0.4, label="uniform")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("weight")
    ax.legend()
    return fig


def calibration(loo: Mapping) -> plt.Figure:
    """Leave-one-out GP prediction (mean and 90% interval) against the observed objective."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for rung in dict.fromkeys(loo["rung"]):
        i = [k for k, r in enumerate(loo["rung"]) if r == rung]
        ax.errorbar(
            np.array(loo["observed"])[i],
            np.array(loo["mean"])[i],
            yerr=1.645 * np.array(loo["std"])[i],
            fmt="o",
            label=rung,
            alpha=0.8,
        )
    if loo["n"]:
        lo, hi = min(loo["observed"] + loo["mean"]), max(loo["observed"] + loo["mean"])
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--")
        ax.legend()
    ax.set_xlabel("observed objective")
    ax.set_ylabel("leave-one-out prediction (90% interval)")
    ax.set_title(f"{loo['inside']} of {loo['n']} inside the 90% interval")
    return fig


def rung_scatter(by_rung: Mapping[str, Mapping[tuple, float]], pairs: Mapping[tuple[str, str], tuple[float, int]]):
    """Objective of the same mixtures on two rungs, one panel per pair that shares any."""
    shown = [(p, v) for p, v in pairs.items() if v[1] > 0]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(4 * max(1, len(shown)), 3.8), squeeze=False)
    for ax, ((a, b), (rho, n)) in zip(axes[0], shown):
        keys = sorted(set(by_rung[a]) & set(by_rung[b]))
        ax.scatter([by_rung[a][k] for k in keys], [by_rung[b][k] for k in keys])
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(f"Spearman {rho:.2f} (n={n})" if n >= 3 else f"n={n}")
    if not shown:
        axes[0][0].set_title("no mixture was run on two rungs")
    return fig
