"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def close(fig) -> None:
    plt.close(fig)


def recommendation_path(
    path: Sequence,
    spending: Mapping,
    target: str,
    unit: str,
    check: Mapping | None = None,
):
    """Top: the recommendation's posterior mean at the target rung with its 90% interval against
    the cumulative cost, a marker per refit coloured by the rung of the trial that had just
    finished, and the check's means (± one standard error) at the right. Bottom: the cumulative
    cost each rung received, so the reader sees where the budget went."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}, constrained_layout=True
    )
    rungs = list(spending["per_rung"])
    colours = {r: f"C{i}" for i, r in enumerate(rungs)}
    if path:
        x = np.array([p.cost for p in path])
        mean, std = np.array([p.mean for p in path]), np.array([p.std for p in path])
        top.plot(x, mean, color="black", linewidth=1.5, label="recommendation: posterior mean")
        top.fill_between(x, mean - 1.645 * std, mean + 1.645 * std, color="grey", alpha=0.3, label="90% interval")
        for rung in rungs:
            at = [i for i, p in enumerate(path) if p.rung == rung]
            if at:
                top.scatter(x[at], mean[at], color=colours[rung], zorder=3, label=f"after a trial at {rung}")
    for (role, summary), style in zip((check or {}).items(), ("-", "--")):
        if summary and math.isfinite(summary["sem"]):
            top.axhspan(summary["mean"] - summary["sem"], summary["mean"] + summary["sem"], color="C3", alpha=0.12)
        if summary:
            n = sum(math.isfinite(v) for v in summary["values"])
            top.axhline(summary["mean"], color="C3", linestyle=style, linewidth=1, label=f"check: {role} ({n} seeds)")
    top.set_ylabel(f"objective at {target}")
    top.set_title("what the search would have recommended, refitted on the trials finished by then")
    top.legend(fontsize=7)
    total = spending["total"]
    for rung in rungs:
        bottom.step(total, spending["per_rung"][rung], where="post", color=colours[rung], label=rung)
    bottom.set_xlabel(f"cumulative cost of the search ({unit})")
    bottom.set_ylabel(f"cost per rung ({unit})")
    bottom.legend(fontsize=7)
    return fig


def check_pairs(check: Mapping, maximize: bool = False):
    """Each check seed's objective for uniform and for the recommended mixture, joined by seed, with
    each mixture's mean ± one standard error beside them: the paired comparison the verdict reads."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    rec, uni = check["recommended"], check["uniform"]
    by_seed = {role: dict(zip(c["seeds"], c["values"])) for role, c in (("recommended", rec), ("uniform", uni))}
    for seed in sorted(set(by_seed["recommended"]) & set(by_seed["uniform"])):
        ys = [by_seed["uniform"][seed], by_seed["recommended"][seed]]
        ax.plot([0, 1], ys, color="grey", marker="o", alpha=0.7)
        ax.annotate(f"seed {seed}", (1, ys[1]), xytext=(4, 0), textcoords="offset points", fontsize=7)
    for x, c in ((0, uni), (1, rec)):
        ax.errorbar([x + 0.25], [c["mean"]], yerr=[c["sem"] if math.isfinite(c["sem"]) else 0.0], fmt="s", color="C3")
    ax.set_xticks([0, 1], ["uniform", "recommended"])
    ax.set_xlim(-0.4, 1.6)
    ax.set_ylabel(f"objective at the target rung ({'higher' if maximize else 'lower'} is better)")
    ax.set_title("check: paired by seed (squares: mean ± SE)")
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
