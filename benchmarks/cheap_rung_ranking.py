"""How well does a model fitted on cheap-rung runs alone rank the target rung's mixtures?

The RegMix recipe (and any multi-fidelity search that leans on its cheapest rung) recommends the
target-rung mixture that a regressor fitted on cheap runs ranks first. This script isolates that
step from the search: for each seed it draws a random order of the cheap rung's rows of a table
of finished runs, and at each training-set size N of a grid fits every model on the first N rows
(nested sets, as a random-sampling search would see them) and ranks all target-rung rows.

Models: `lightgbm` (the replay's RegMix regressor, same parameters) and single-rung GPs of the
project's Optimizer, one per kernel factory named in --kernels (any gin-registered callable
`num_dims -> Kernel`, e.g. matern52, additive_matern52, additive_plus_matern52), configured by
--gin_file / --gin.NAME=VALUE like the replay's BO methods.

Per model and seed: "held N", the smallest grid size from which the top-ranked target row is a
true best one at every larger size (None if the last size misses; counted as infinite in the
median); the fraction of sizes whose top pick is a true best; the mean Spearman correlation of
predictions and true target values; and the true rank of the top pick at every size. Seed s
orders the cheap rows by np.random.default_rng(1000 + s), and ties in the predictions go to the
lowest row (as in an earlier prototype study, so the figures can be compared).

  python benchmarks/cheap_rung_ranking.py --table ../shared/data/regmix_pile_runs.csv --weights_prefix w: \
      --fidelity_col fidelity --cost_col cost --objective loss:avg --minimize --target_fidelity 1B \
      --cheap_fidelity 1M --seeds 8 --models lightgbm --kernels matern52,additive_matern52 \
      --gin_file configs/replay/bo_fast.gin --out results/
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from admire_jax import gin_cli
from admire_jax.bench.cli import add_table_arguments, table_spec
from admire_jax.bench.regmix import lightgbm_predict
from admire_jax.bench.table import ReplayTask, TableError, load_tasks

DEFAULT_SIZES = "20:190:10,200:400:25"
SEED_OFFSET = 1000  # permutation of seed s: np.random.default_rng(SEED_OFFSET + s)
# A model maps (train mixtures NxD, train values N, target mixtures TxD, seed) to predictions T.
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _parser() -> argparse.ArgumentParser:
    p = gin_cli.parser("cheap_rung_ranking.py", __doc__.split("\n")[0])
    add_table_arguments(p)  # the replay's table options (one --objective here)
    p.add_argument("--cheap_fidelity", help="fidelity label the models are fitted on (default: the cheapest rung)")
    p.add_argument("--models", default="lightgbm", help="comma-separated non-GP models: 'lightgbm' or '' for none")
    p.add_argument("--kernels", default="", help="comma-separated gin kernel factories, one GP model each")
    p.add_argument("--seeds", type=int, default=8, help="random orders of the cheap rows (seeds 0..N-1)")
    p.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help="training-set sizes: comma-separated N or START:STOP:STEP (STOP inclusive)",
    )
    p.add_argument("--out", required=True, help="output directory (results.json, table.md)")
    return p


def parse_sizes(text: str, num_rows: int) -> list[int]:
    """'20:40:10,50' -> [20, 30, 40, 50]; strictly increasing, each in [2, num_rows]."""
    sizes: list[int] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            bounds = [int(v) for v in item.split(":")]
        except ValueError:
            raise TableError(f"--sizes: {item!r} is not N or START:STOP:STEP") from None
        if len(bounds) == 1:
            sizes.append(bounds[0])
        elif len(bounds) == 3 and bounds[2] > 0:
            sizes.extend(range(bounds[0], bounds[1] + 1, bounds[2]))
        else:
            raise TableError(f"--sizes: {item!r} is not N or START:STOP:STEP with STEP > 0")
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise TableError(f"--sizes must be non-empty and strictly increasing, got {sizes}")
    if sizes[0] < 2 or sizes[-1] > num_rows:
        raise TableError(f"--sizes must lie in [2, {num_rows}] (rows of the cheap rung), got {sizes[0]}..{sizes[-1]}")
    return sizes


def load_task(args: argparse.Namespace) -> ReplayTask:
    """The objective's ReplayTask, read by the replay's own loader (same options, same errors)."""
    if len(args.objective) != 1:
        raise TableError(f"give one --objective per run, got {args.objective}")
    return load_tasks(args.table, table_spec(args))[0]


def gp_model(kernel_name: str, task: ReplayTask, rung: str, config) -> FitPredict:
    """A single-rung Optimizer on `rung` (an `OptimizerConfig`: `config`) with the gin kernel factory
    `kernel_name`; its posterior mean."""
    import gin

    from admire_jax.bo import Optimizer
    from admire_jax.bo.kernels import Kernel

    try:
        factory = gin.get_configurable(kernel_name)
    except ValueError:
        raise TableError(f"--kernels: {kernel_name!r} is not a gin-registered kernel factory") from None
    try:
        is_kernel = isinstance(factory(len(task.domains)), Kernel)
    except (TypeError, ValueError):
        is_kernel = False
    if not is_kernel:
        raise TableError(f"--kernels: {kernel_name!r} is gin-registered but is not a factory num_dims -> Kernel")
    costs = {rung: task.median_costs[rung]}

    def fit_predict(train_NxD: np.ndarray, train_N: np.ndarray, target_TxD: np.ndarray, seed: int) -> np.ndarray:
        opt = Optimizer(
            list(task.domains),
            costs,
            rung,
            maximize=task.maximize,
            seed=seed,
            config=dataclasses.replace(config, kernel=factory),
        )
        for w_D, value in zip(train_NxD, train_N):
            opt.tell(w_D, rung, float(value))
        return opt.predict(target_TxD, rung)[0]

    return fit_predict


def rank_run(
    fit_predict: FitPredict, task: ReplayTask, cheap_rows: np.ndarray, sizes: Sequence[int], seed: int
) -> dict:
    """One seed of one model: the top pick, its true rank and the Spearman rho at every size."""
    order = np.random.default_rng(SEED_OFFSET + seed).permutation(cheap_rows.size)
    target_T = task.target_rows
    target_TxD, truth_T = task.mixtures_RxD[target_T], task.value_R[target_T]
    sign = -1.0 if task.maximize else 1.0  # smaller sign * value is better
    picks, ranks, rhos, seconds = [], [], [], []
    for n in sizes:
        rows = cheap_rows[order[:n]]
        start = time.perf_counter()
        prediction_T = np.asarray(fit_predict(task.mixtures_RxD[rows], task.value_R[rows], target_TxD, seed))
        seconds.append(time.perf_counter() - start)
        pick = int(np.argmin(sign * prediction_T))
        picks.append(int(task.row_id_R[target_T[pick]]))
        ranks.append(int((sign * truth_T < sign * truth_T[pick]).sum()) + 1)
        rhos.append(float(stats.spearmanr(prediction_T, truth_T)[0]))
    hit = np.array(ranks) == 1
    held = next((sizes[i] for i in range(len(sizes)) if hit[i:].all()), None)
    return dict(
        seed=seed,
        held_n=held,
        hit_fraction=float(hit.mean()),
        spearman=float(np.nanmean(rhos)),
        top_pick_rank=ranks,
        top_pick_table_row=picks,
        spearman_by_size=rhos,
        fit_seconds=seconds,
    )


def summarise(runs: Sequence[dict]) -> dict:
    """Over seeds: median held N (never held = inf), mean hit fraction and rho, median fit time."""
    held = [np.inf if r["held_n"] is None else r["held_n"] for r in runs]
    return dict(
        median_held_n=float(np.median(held)),
        seeds_never_held=sum(r["held_n"] is None for r in runs),
        mean_hit_fraction=float(np.mean([r["hit_fraction"] for r in runs])),
        mean_spearman=float(np.mean([r["spearman"] for r in runs])),
        median_fit_seconds=float(np.median([s for r in runs for s in r["fit_seconds"]])),
        total_seconds=float(sum(sum(r["fit_seconds"]) for r in runs)),
    )


def markdown_table(summaries: dict[str, dict], runs: dict[str, list[dict]]) -> str:
    lines = [
        "| model | median held N | held N per seed | never held | mean hit fraction | mean Spearman "
        "| median fit (s) | total fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        median = "never" if np.isinf(s["median_held_n"]) else f"{s['median_held_n']:g}"
        per_seed = " ".join("-" if r["held_n"] is None else str(r["held_n"]) for r in runs[name])
        lines.append(
            f"| {name} | {median} | {per_seed} | {s['seeds_never_held']}/{len(runs[name])} "
            f"| {s['mean_hit_fraction']:.2f} | {s['mean_spearman']:.3f} | {s['median_fit_seconds']:.2f} "
            f"| {s['total_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _setup(args: argparse.Namespace, bindings: list[str]) -> tuple[ReplayTask, str, list[int], dict[str, FitPredict]]:
    if args.seeds < 1:
        raise TableError("--seeds must be >= 1")
    task = load_task(args)
    cheap = args.cheap_fidelity or task.rungs[0]
    if cheap not in task.rungs:
        raise TableError(f"--cheap_fidelity {cheap!r} has no rows (fidelities in table: {list(task.rungs)})")
    if cheap == task.target:
        raise TableError(f"--cheap_fidelity {cheap!r} is the target fidelity; name a cheaper rung")
    cheap_rows = int((task.fidelity_of_R == task.rungs.index(cheap)).sum())
    sizes = parse_sizes(args.sizes, cheap_rows)
    models: dict[str, FitPredict] = {}
    for name in filter(None, (m.strip() for m in args.models.split(","))):
        if name != "lightgbm":
            raise TableError(f"--models: unknown model {name!r}; known: ['lightgbm'] (GPs: --kernels)")
        models[name] = lightgbm_predict
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    if kernels:
        import gin

        from admire_jax.bo import OptimizerConfig  # registers the engine's configurables

        gin_cli.parse_gin(args.gin_file, bindings, gin_cli.search_paths(args))
        try:
            config = OptimizerConfig()
            models.update({f"gp:{k}": gp_model(k, task, cheap, config) for k in kernels})
        finally:
            gin.clear_config()
    if not models:
        raise TableError("nothing to run: give --models and/or --kernels")
    return task, cheap, sizes, models


def main(argv: list[str]) -> int:
    try:
        args, bindings = gin_cli.parse_args(_parser(), argv)
        task, cheap, sizes, models = _setup(args, bindings)
    except (TableError, gin_cli.UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    cheap_rows = np.flatnonzero(task.fidelity_of_R == task.rungs.index(cheap))
    os.makedirs(args.out, exist_ok=True)
    config = dict(
        argv=argv,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        table=args.table,
        objective=task.objective,
        maximize=task.maximize,
        cheap=cheap,
        target=task.target,
        cheap_rows=int(cheap_rows.size),
        target_rows=int(task.target_rows.size),
        sizes=sizes,
        seeds=args.seeds,
        seed_offset=SEED_OFFSET,
        gin_files=args.gin_file,
        gin=bindings,
    )
    runs: dict[str, list[dict]] = {}
    summaries: dict[str, dict] = {}
    for name, fit_predict in models.items():
        runs[name] = []
        for seed in range(args.seeds):
            run = rank_run(fit_predict, task, cheap_rows, sizes, seed)
            runs[name].append(run)
            print(
                f"{name} seed={seed} held_N={run['held_n']} hit={run['hit_fraction']:.2f} "
                f"rho={run['spearman']:.3f} ranks={run['top_pick_rank']} t={sum(run['fit_seconds']):.0f}s",
                flush=True,
            )
        summaries[name] = summarise(runs[name])
        # Written after every model, so an interrupted benchmark keeps the models it finished.
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(dict(config=config, summary=summaries, runs=runs), f, indent=1)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(markdown_table(summaries, runs))
    print(markdown_table(summaries, runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
