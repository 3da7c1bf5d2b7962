"""Run every method over every seed of every task and turn the episodes into the summary object."""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from admire_jax.bench import metrics
from admire_jax.bench.episode import Trace, run_episode
from admire_jax.bench.methods import BO_METHODS, policy_factory
from admire_jax.bench.store import EpisodeStore
from admire_jax.bench.table import ReplayTask

Episodes = dict[str, list[Trace]]  # method -> one trace per seed
REDRAW_SECONDS = 1.0
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SINGLE_THREAD_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


_steps_queue = None  # in a worker: where it reports (episode, runs, cost) for the progress bar


def _configure_worker(steps_queue) -> None:
    global _steps_queue
    _steps_queue = steps_queue


@contextlib.contextmanager
def _single_threaded_children():
    """Environment inherited by worker processes started inside: one XLA and one BLAS thread each.
    With several workers on few shared cores, more threads only contend (measured under load:
    XLA's thread pool made a BO step 5-10x slower; spinning OpenBLAS threads far more)."""
    saved = dict(os.environ)
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    os.environ.update({name: "1" for name in SINGLE_THREAD_BLAS})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _episode(
    task: ReplayTask, method: str, seed: int, budget: float, n_init: int, cap: int | None, bo_config: Any, on_step=None
) -> Trace:
    if on_step is None and _steps_queue is not None:
        label, last = f"{task.objective} {method}/{seed}", [0.0]

        def on_step(runs: int, cost: float) -> None:
            if time.monotonic() - last[0] >= REDRAW_SECONDS:
                last[0] = time.monotonic()
                _steps_queue.put((label, runs, cost))

    return run_episode(task, policy_factory(method, bo_config), seed, budget, n_init, cap, on_step)


def replay_tasks(
    tasks: Sequence[ReplayTask],
    methods: Sequence[str],
    seeds: Sequence[int],
    budget: float,
    n_init: int,
    max_steps: Mapping[str, int] | None = None,
    progress: tqdm | None = None,
    workers: int = 1,
    bo_config: Any = None,
    store: EpisodeStore | None = None,
) -> list[Episodes]:
    """Every method on every seed of every task (the same seeds for every method).

    `max_steps` caps the steps of the methods it names (for compute; such episodes end with stop
    reason 'max_steps'). Episodes found in `store` are reused and new ones are saved there as they
    finish, objective by objective (an interrupted replay leaves whole objectives) and within one
    the BO methods first (the slowest). The BO methods run with `bo_config` (a
    `bo_policy.BOPolicyConfig`; None: its defaults), handed to every episode as an object. With
    `workers` > 1 the episodes run in that many fresh processes running XLA single-threaded; an
    episode depends only on its seed, so results do not depend on how episodes are spread over
    workers. Otherwise they run in this process.
    """
    caps = dict(max_steps or {})
    slow_first = sorted(methods, key=lambda m: m not in BO_METHODS)
    jobs = [(t, m, s) for t in range(len(tasks)) for m in slow_first for s in seeds]  # objectives in order
    traces: dict[tuple[int, str, int], Trace] = {}

    def finished(job: tuple[int, str, int], trace: Trace) -> None:
        t, m, s = job
        traces[job] = trace
        if store is not None:
            store.save(tasks[t], m, s, caps.get(m), trace)
        if progress is not None:
            progress.update(1)

    for job in jobs:
        stored = None if store is None else store.load(tasks[job[0]], job[1], job[2], caps.get(job[1]))
        if stored is not None:
            finished(job, stored)
    todo = [job for job in jobs if job not in traces]
    if workers <= 1:
        last_draw = [0.0]

        def on_step(runs: int, cost: float) -> None:
            if progress is not None:
                progress.set_postfix(step=runs, cost=f"{cost:.3g}", refresh=False)
                if time.monotonic() - last_draw[0] >= REDRAW_SECONDS:
                    last_draw[0] = time.monotonic()
                    progress.refresh()

        for t, m, s in todo:
            if progress is not None:
                progress.set_description(f"{tasks[t].objective} {m} seed {s}")
            finished((t, m, s), _episode(tasks[t], m, s, budget, n_init, caps.get(m), bo_config, on_step))
    elif todo:
        context = multiprocessing.get_context("spawn")  # jax does not survive fork
        steps_queue = context.Queue()
        running: dict[str, str] = {}
        ended: set[str] = set()
        with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_configure_worker, initargs=(steps_queue,)
        ) as pool:
            with _single_threaded_children():  # workers start on submit and inherit this environment
                futures = {
                    pool.submit(_episode, tasks[t], m, s, budget, n_init, caps.get(m), bo_config): (t, m, s)
                    for t, m, s in todo
                }
            waiting = set(futures)
            while waiting:
                done, waiting = concurrent.futures.wait(
                    waiting, timeout=REDRAW_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
                )
                while not steps_queue.empty():
                    label, runs, cost = steps_queue.get()
                    if label not in ended:  # a report can arrive after its episode's result
                        running[label] = f"{label} step {runs} cost {cost:.3g}"
                for future in done:
                    t, m, s = futures[future]
                    ended.add(f"{tasks[t].objective} {m}/{s}")
                    running.pop(f"{tasks[t].objective} {m}/{s}", None)
                    if progress is not None:
                        progress.set_description(f"{tasks[t].objective} {m} seed {s} done")
                    finished((t, m, s), future.result())
                if progress is not None:
                    progress.set_postfix_str("; ".join(running.values()), refresh=True)
    return [{m: [traces[(t, m, s)] for s in seeds] for m in methods} for t in range(len(tasks))]


def _costs(traces: list[Trace], variant: str, budget: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    results = [metrics.cost_to_best(t, variant, budget, tol) for t in traces]
    return np.array([r.cost for r in results]), np.array([r.censored for r in results])


def summarise_task(task: ReplayTask, episodes: Episodes, budget: float, tol: float) -> dict:
    """The per-objective summary object of the issue (plus a few diagnostic fields)."""
    methods = list(episodes)
    n_seeds = len(next(iter(episodes.values())))
    out: dict = {
        "table": task.path,
        "objective": task.objective,
        "maximize": task.maximize,
        "target_fidelity": task.target,
        "fidelity_order": list(task.rungs),
        "seeds": n_seeds,
        "budget": budget,
        "tol": tol,
        "best_target_value": task.best_target_value,
        "skipped_nan_rows": task.skipped_nan_rows,
        "truth_col": task.truth_col,
        "methods": {},
    }
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
            for pair in summaries[0]["speedup"]
        }
    return top
