"""Run every method over every seed of a task and turn the episodes into the summary object."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from admire_jax.bench import metrics
from admire_jax.bench.episode import Trace, run_episode
from admire_jax.bench.methods import policy_factory
from admire_jax.bench.table import ReplayTask

Episodes = dict[str, list[Trace]]  # method -> one trace per seed
REDRAW_SECONDS = 1.0


def replay_task(task: ReplayTask, methods: Sequence[str], seeds: Sequence[int], budget: float, n_init: int,
                max_steps: Mapping[str, int] | None = None, progress: tqdm | None = None) -> Episodes:
    """All methods on all seeds of one task; the same seeds for every method. `max_steps` caps the
    steps of the methods it names (for compute; such episodes end with stop reason 'max_steps')."""
    episodes: Episodes = {}
    last_draw = [0.0]

    def on_step(runs: int, cost: float) -> None:
        if progress is not None:
            progress.set_postfix(step=runs, cost=f"{cost:.3g}", refresh=False)
            if time.monotonic() - last_draw[0] >= REDRAW_SECONDS:
                last_draw[0] = time.monotonic()
                progress.refresh()

    for method in methods:
        factory = policy_factory(method)
        episodes[method] = []
        for seed in seeds:
            if progress is not None:
                progress.set_description(f"{task.objective} {method} seed {seed}")
            cap = (max_steps or {}).get(method)
            episodes[method].append(run_episode(task, factory, seed, budget, n_init, cap, on_step))
            if progress is not None:
                progress.update(1)
    return episodes


def _costs(traces: list[Trace], variant: str, budget: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    results = [metrics.cost_to_best(t, variant, budget, tol) for t in traces]
    return np.array([r.cost for r in results]), np.array([r.censored for r in results])


def summarise_task(task: ReplayTask, episodes: Episodes, budget: float, tol: float) -> dict:
    """The per-objective summary object of the issue (plus a few diagnostic fields)."""
    methods = list(episodes)
    n_seeds = len(next(iter(episodes.values())))
    out: dict = {"table": task.path, "objective": task.objective, "maximize": task.maximize,
                 "target_fidelity": task.target, "fidelity_order": list(task.rungs), "seeds": n_seeds,
                 "budget": budget, "tol": tol, "best_target_value": task.best_target_value,
                 "skipped_nan_rows": task.skipped_nan_rows, "methods": {}}
    held: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method, traces in episodes.items():
        cost_to_best = {}
        for variant in metrics.VARIANTS:
            cost_N, censored_N = _costs(traces, variant, budget, tol)
            cost_to_best[variant] = metrics.summarise(cost_N, censored_N)
            if variant == "held":
                held[method] = (cost_N, censored_N)
        picked = np.concatenate([t.picked_S for t in traces])
        counts = np.bincount(task.fidelity_of_R[picked], minlength=len(task.rungs))
        stops = [t.stop_reason for t in traces]
        out["methods"][method] = {
            "cost_to_best": cost_to_best,
            "fidelity_counts": {label: int(c) for label, c in zip(task.rungs, counts)},
            "stop_reasons": {reason: stops.count(reason) for reason in sorted(set(stops))},
        }
    subject = methods[0]
    out["speedup"], out["speedup_ci"], out["censored"] = {}, {}, {}
    for other in methods[1:]:
        pair = f"{subject}/{other}"
        ratio, ci, flag = metrics.speedup(*held[subject], *held[other])
        out["speedup"][pair], out["speedup_ci"][pair], out["censored"][pair] = ratio, ci, flag
    return out


def combine(summaries: list[dict]) -> dict:
    """The first objective's summary at the top; with several, all under per_objective, and the
    geometric mean of each speed-up over objectives."""
    top = dict(summaries[0])
    if len(summaries) > 1:
        top["per_objective"] = {s["objective"]: s for s in summaries}
        top["speedup_geomean"] = {
            pair: float(np.exp(np.mean([np.log(s["speedup"][pair]) for s in summaries])))
            for pair in summaries[0]["speedup"]}
    return top
