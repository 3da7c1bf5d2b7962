"""Wall time of one BO iteration (refit hyperparameters + propose one point from a pool) for
admire_jax.bo against BoTorch (SingleTaskMultiFidelityGP + qMultiFidelityMaxValueEntropy) on the
same data, in the same run: 17 domains + a fidelity column, N observations, a pool of candidates.

  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    python benchmarks/bo_overhead.py --sizes 50 200 1000 --repeats 3 --torch-threads 1
BoTorch is optional (pip install torch==2.13.0 botorch); --no-botorch times admire_jax.bo only.
Compilation is excluded from our timings (a warm-up per size bucket), as a replay loop pays it
once per bucket; BoTorch has no compile step. Ours is timed per kind of iteration (re-condition
only, warm refit, full refit, cold first fit) and combined into the steady-state mean of each
refit policy in POLICIES (see `steady_state`); BoTorch refits from scratch every iteration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time

import numpy as np

from admire_jax.bo import MapFitConfig, Optimizer, OptimizerConfig, Pool
from admire_jax.bo.fidelity import fidelity_coordinates
from admire_jax.bo.refit import RefitPolicy

D = 17
COSTS = {"1M": 0.001, "60M": 0.06, "1B": 1.0}
RUNG_P = [0.7, 0.2, 0.1]


def make_data(n: int, pool: int, seed: int):
    """Sparse Dirichlet mixtures; a smooth objective with rung-dependent offset and noise."""
    rng = np.random.default_rng(seed)
    centre = rng.dirichlet(np.ones(D))
    W = rng.dirichlet(np.full(D, 0.3), n + pool)
    W = np.where(W < 1e-3, 0.0, W)
    W /= W.sum(1, keepdims=True)
    labels = rng.choice(list(COSTS), size=n + pool, p=RUNG_P)
    shift = {"1M": 1.0, "60M": 0.4, "1B": 0.0}
    y = np.array([3.0 + 4.0 * np.sum((w - centre) ** 2) + shift[f] * (1 + 0.5 * w[0]) for w, f in zip(W, labels)])
    y += 0.01 * rng.normal(size=len(y))
    return W[:n], list(labels[:n]), y[:n], W[n:], list(labels[n:])


def _optimizer(seed: int, **policy) -> Optimizer:
    return Optimizer(
        [f"d{i}" for i in range(D)],
        COSTS,
        target="1B",
        seed=seed,
        config=dataclasses.replace(OptimizerConfig(), **policy),
    )


def _compile(n: int, pool: Pool, W, F, y) -> None:
    """Compiles this size bucket with a throwaway Optimizer whose fits stop after 2 steps
    (max_iters is traced, so the programs are the ones the timed fits use)."""
    opt = _optimizer(0, map_fit=MapFitConfig(max_iters=2))
    for w, f, v in zip(W[:n], F[:n], y[:n]):
        opt.tell(w, f, v)
    opt.ask(pool=pool)


def _iteration(opt: Optimizer, pool: Pool, w, f, v) -> float:
    """Wall time of one BO iteration: a new observation arrives, the next ask refits (as the
    policy says) and scores the pool."""
    opt.tell(w, f, v)
    t = time.perf_counter()
    opt.ask(pool=pool)
    elapsed = time.perf_counter() - t
    opt.clear_pending()
    return elapsed


def time_ours(n: int, pool_size: int, repeats: int, seed: int, warm_refit_iters: int) -> dict:
    """Median wall time of each kind of iteration; a refit policy's steady state is a mix of them.

    reuse: hyperparameters kept, GP re-conditioned; warm: refit of at most `warm_refit_iters`
    L-BFGS steps from the last fit; full: warm start + fit_map's restarts (every
    `full_refit_every`-th refit); cold: a fresh Optimizer's first fit (default start + restarts).
    """
    W, F, y, Wp, Fp = make_data(n + repeats, pool_size, seed)
    pool = Pool(Wp, Fp)
    _compile(n, pool, W, F, y)
    cold = []
    for r in range(repeats):
        fresh = _optimizer(seed + r, warm_refit_iters=warm_refit_iters)
        for w, f, v in zip(W[:n], F[:n], y[:n]):
            fresh.tell(w, f, v)
        t = time.perf_counter()
        fresh.ask(pool=pool)
        cold.append(time.perf_counter() - t)
        fresh.clear_pending()
    times = dict(cold=statistics.median(cold))
    kinds = dict(
        reuse=dict(refit_every=10**9),
        warm=dict(full_refit_every=10**9),
        full=dict(full_refit_every=1, full_refit_growth=0.0),
    )
    for kind, policy in kinds.items():  # the same first fit, continued under each policy
        opt = _optimizer(seed, warm_refit_iters=warm_refit_iters, **policy)
        for w, f, v in zip(W[:n], F[:n], y[:n]):
            opt.tell(w, f, v)
        opt.predict(W[:1], "1B")  # the first (cold) fit, untimed
        times[kind] = statistics.median(_iteration(opt, pool, W[n + r], F[n + r], y[n + r]) for r in range(repeats))
    return times


def steady_state(
    times: dict, n: int, refit_every: int, refit_growth: float, full_refit_every: int, full_refit_growth: float
) -> tuple[int, int, float]:
    """(k, m, mean seconds per iteration) of a refit policy at size n: one refit every k
    iterations, one full refit every m refits (`RefitPolicy.refits_per_full`), the other refits
    warm, and re-conditioning only in between."""
    policy = RefitPolicy(refit_every, refit_growth, full_refit_every, 1, full_refit_growth)
    k = policy.interval(n)
    m = policy.refits_per_full(n, k)
    refit = ((m - 1) * times["warm"] + times["full"]) / m
    return k, m, ((k - 1) * times["reuse"] + refit) / k


def time_botorch(n: int, pool: int, repeats: int, seed: int) -> float:
    import torch
    from botorch.acquisition.cost_aware import InverseCostWeightedUtility
    from botorch.acquisition.max_value_entropy_search import qMultiFidelityMaxValueEntropy
    from botorch.acquisition.utils import project_to_target_fidelity
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskMultiFidelityGP
    from botorch.models.cost import AffineFidelityCostModel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    W, F, y, Wp, Fp = make_data(n + repeats, pool, seed)
    s = fidelity_coordinates(COSTS, "1B")
    to_x = lambda W, F: torch.tensor(np.concatenate([W, np.array([[s[f]] for f in F])], 1), dtype=torch.double)
    Xp = to_x(Wp, Fp)
    target = {D: 1.0}
    cost = InverseCostWeightedUtility(AffineFidelityCostModel(fidelity_weights={D: 1.0}, fixed_cost=0.001))
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        X = to_x(W[: n + r + 1], F[: n + r + 1])
        Y = -torch.tensor(y[: n + r + 1], dtype=torch.double)[:, None]  # BoTorch maximises
        model = SingleTaskMultiFidelityGP(X, Y, data_fidelities=[D])
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        candidates = Xp.clone()
        candidates[:, D] = 1.0
        acq = qMultiFidelityMaxValueEntropy(
            model,
            candidates,
            cost_aware_utility=cost,
            project=lambda X: project_to_target_fidelity(X, target_fidelities=target, d=D + 1),
        )
        with torch.no_grad():
            vals = torch.cat([acq(chunk[:, None, :]) for chunk in Xp.split(128)])
        int(vals.argmax())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


POLICIES = {"every": (1, 0.0), "growth5": (1, 0.05)}  # name -> (refit_every, refit_growth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--pool", type=int, default=1100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-refit-iters", type=int, default=20)
    parser.add_argument("--full-refit-every", type=int, default=10)
    parser.add_argument("--full-refit-growth", type=float, default=0.1)
    parser.add_argument("--no-botorch", action="store_true")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for BoTorch (match XLA's thread count, set by XLA_FLAGS)",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.torch_threads and not args.no_botorch:
        import torch

        torch.set_num_threads(args.torch_threads)
    rows = []
    for n in args.sizes:
        load = os.getloadavg()[0]
        ours = time_ours(n, args.pool, args.repeats, args.seed, args.warm_refit_iters)
        print(f"N={n}: admire_jax.bo {ours}", flush=True)
        bt = math.nan if args.no_botorch else time_botorch(n, args.pool, args.repeats, args.seed)
        row = dict(
            n=n,
            load_start=load,
            load_end=os.getloadavg()[0],
            botorch_s=bt,
            **{f"ours_{k}_s": v for k, v in ours.items()},
        )
        for name, (every, growth) in POLICIES.items():
            k, m, mean = steady_state(ours, n, every, growth, args.full_refit_every, args.full_refit_growth)
            row[f"policy_{name}"] = dict(
                refit_every=every, refit_growth=growth, k=k, refits_per_full=m, mean_s=mean, speedup=bt / mean
            )
        row["speedup_cold"] = bt / ours["cold"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\nwarm_refit_iters={args.warm_refit_iters}, full_refit_every={args.full_refit_every}, "
        f"full_refit_growth={args.full_refit_growth}; medians of "
        f"{args.repeats} repeat(s); seconds per BO iteration"
    )
    print(
        "| N | load | reuse | warm refit | full refit | cold | every obs. (k=1; m) | growth 5% (k; m) | BoTorch | "
        "speed-up k=1 | speed-up 5% | speed-up cold |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e, g = r["policy_every"], r["policy_growth5"]
        print(
            f"| {r['n']} | {r['load_start']:.0f}-{r['load_end']:.0f} | "
            f"{r['ours_reuse_s']:.2f} | {r['ours_warm_s']:.2f} | "
            f"{r['ours_full_s']:.2f} | {r['ours_cold_s']:.2f} | {e['mean_s']:.2f} ({e['refits_per_full']}) | "
            f"{g['mean_s']:.2f} ({g['k']}; {g['refits_per_full']}) | "
            f"{r['botorch_s']:.2f} | {e['speedup']:.1f}x | {g['speedup']:.1f}x | {r['speedup_cold']:.1f}x |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
