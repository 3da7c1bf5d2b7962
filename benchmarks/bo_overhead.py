"""Wall time of one BO iteration (refit hyperparameters + propose one point from a pool) for
admire_jax.bo against BoTorch (SingleTaskMultiFidelityGP + qMultiFidelityMaxValueEntropy) on the
same data, in the same run: 17 domains + a fidelity column, N observations, a pool of candidates.

  python benchmarks/bo_overhead.py --sizes 50 200 1000 --repeats 3
BoTorch is optional (pip install torch==2.13.0 botorch); --no-botorch times admire_jax.bo only.
Compilation is excluded from our timings (a warm-up iteration per size bucket), as a replay loop
pays it once per bucket; BoTorch has no compile step.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np

from admire_jax.bo import Optimizer, Pool
from admire_jax.bo.fidelity import fidelity_coordinates

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


def time_ours(n: int, pool: int, repeats: int, seed: int) -> dict:
    W, F, y, Wp, Fp = make_data(n + repeats, pool, seed)
    opt = Optimizer([f"d{i}" for i in range(D)], COSTS, target="1B", seed=seed)
    for w, f, v in zip(W[:n], F[:n], y[:n]):
        opt.tell(w, f, v)
    pool_ = Pool(Wp, Fp)
    opt.ask(pool=pool_)  # warm-up: compiles this size bucket
    opt.clear_pending()
    warm, cold = [], []
    for r in range(repeats):
        opt.tell(W[n + r], F[n + r], y[n + r])  # new data -> the next ask refits (warm-started)
        t = time.perf_counter()
        opt.ask(pool=pool_)
        warm.append(time.perf_counter() - t)
        opt.clear_pending()
        fresh = Optimizer([f"d{i}" for i in range(D)], COSTS, target="1B", seed=seed + r + 1)
        for w, f, v in zip(W[: n + r + 1], F[: n + r + 1], y[: n + r + 1]):
            fresh.tell(w, f, v)
        t = time.perf_counter()
        fresh.ask(pool=pool_)  # refit from the default initialisation (no warm start)
        cold.append(time.perf_counter() - t)
    return dict(warm=statistics.median(warm), cold=statistics.median(cold))


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
        acq = qMultiFidelityMaxValueEntropy(model, candidates, cost_aware_utility=cost,
                                            project=lambda X: project_to_target_fidelity(X, target_fidelities=target, d=D + 1))
        with torch.no_grad():
            vals = torch.cat([acq(chunk[:, None, :]) for chunk in Xp.split(128)])
        int(vals.argmax())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--pool", type=int, default=1100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-botorch", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        ours = time_ours(n, args.pool, args.repeats, args.seed)
        print(f"N={n}: admire_jax.bo {ours}", flush=True)
        bt = math.nan if args.no_botorch else time_botorch(n, args.pool, args.repeats, args.seed)
        rows.append(dict(n=n, ours_warm_s=ours["warm"], ours_cold_s=ours["cold"], botorch_s=bt,
                         speedup_warm=bt / ours["warm"], speedup_cold=bt / ours["cold"]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| N | admire_jax.bo warm-started refit (s) | admire_jax.bo cold refit (s) | BoTorch (s) | speed-up warm | speed-up cold |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['ours_warm_s']:.3f} | {r['ours_cold_s']:.3f} | {r['botorch_s']:.3f} | "
              f"{r['speedup_warm']:.1f}x | {r['speedup_cold']:.1f}x |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
