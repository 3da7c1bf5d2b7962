"""`admire-jax replay`: compare mixture-search methods on a table of finished runs.

Example (the RegMix Pile table):
  admire-jax replay --table ../shared/data/regmix_pile_runs.csv --weights_prefix w: --fidelity_col fidelity \
      --objective loss:avg --minimize --cost_col cost --target_fidelity 1B --seeds 20 \
      --gin_file configs/replay/bo_fast.gin --out results/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tqdm.auto import tqdm

from admire_jax import gin_cli, gin_unread
from admire_jax.bench.methods import BO_METHODS, DEFAULT_METHODS, METHODS
from admire_jax.bench.replay import combine, replay_tasks, summarise_task
from admire_jax.bench.report import markdown_table, write_outputs
from admire_jax.bench.store import EpisodeStore
from admire_jax.bench.table import TableError, TableSpec, load_tasks, parse_fidelity_costs


def add_table_arguments(p: argparse.ArgumentParser) -> None:
    """The options that map a table's columns (shared by the replay and the benchmarks that read its tables)."""
    p.add_argument("--table", required=True, help="CSV, one row per finished run")
    p.add_argument("--weights_prefix", required=True, help="prefix of the mixture-weight columns, e.g. 'w:'")
    p.add_argument("--fidelity_col", required=True, help="column holding the fidelity label of each run")
    p.add_argument(
        "--objective",
        action="append",
        required=True,
        help="objective column; repeat for several objectives (separate tasks)",
    )
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--maximize", action="store_true", help="higher objective is better")
    direction.add_argument("--minimize", action="store_true", help="lower objective is better (default)")
    p.add_argument("--cost_col", help="per-row cost column (methods plan with the running mean per rung)")
    p.add_argument("--fidelity_costs", help="declared cost per run of each rung, e.g. 1M=0.001,60M=0.06,1B=1")
    p.add_argument("--target_fidelity", required=True, help="fidelity label whose best row is sought")
    p.add_argument("--fidelity_order", help="rungs cheapest first, comma-separated (default: by median row cost)")
    p.add_argument(
        "--truth_col",
        action="append",
        default=[],
        help="per --objective, in order: a column of "
        "noiseless values that cost-to-best is scored on (the methods see the objective only)",
    )


def table_spec(args: argparse.Namespace) -> TableSpec:
    """The TableSpec of the options added by `add_table_arguments`."""
    return TableSpec(
        weights_prefix=args.weights_prefix,
        fidelity_col=args.fidelity_col,
        objectives=tuple(args.objective),
        target_fidelity=args.target_fidelity,
        maximize=bool(args.maximize),
        cost_col=args.cost_col,
        fidelity_costs=None if args.fidelity_costs is None else parse_fidelity_costs(args.fidelity_costs),
        fidelity_order=None
        if args.fidelity_order is None
        else tuple(s.strip() for s in args.fidelity_order.split(",") if s.strip()),
        truth_cols=tuple(args.truth_col),
    )


def _parser() -> argparse.ArgumentParser:
    p = gin_cli.parser("admire-jax replay", __doc__.split("\n")[0])
    add_table_arguments(p)
    p.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated, first one is compared with the others; known: {','.join(METHODS)}",
    )
    p.add_argument("--seeds", type=int, default=20, help="episodes per method (seeds FIRST..FIRST+N-1)")
    p.add_argument(
        "--first_seed",
        type=int,
        default=0,
        help="FIRST: the first seed, e.g. to check a setting on seeds it was not chosen on",
    )
    p.add_argument("--budget", type=float, help="cost budget per episode (default: cost of all target rows)")
    p.add_argument("--n_init", type=int, default=1, help="random initial rows of the cheapest allowed rung")
    p.add_argument("--tol", type=float, default=0.0, help="tolerance of the held_tol cost-to-best")
    p.add_argument(
        "--max_steps",
        help="cap on steps per episode, for compute: N for every method or "
        "METHOD=N,... (reported as stop reason 'max_steps'; the last recommendation then stands)",
    )
    p.add_argument("--workers", type=int, default=1, help="episodes run in this many processes at once")
    p.add_argument(
        "--out",
        required=True,
        help="output directory; finished episodes are kept in OUT/episodes "
        "and reused by a later replay with the same settings",
    )
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return p


def _max_steps(text: str | None, methods: list[str]) -> dict[str, int]:
    if text is None:
        return {}
    caps: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.rpartition("=")
        names = [name] if sep else methods
        if not value.isdigit() or int(value) < 1 or any(n not in methods for n in names):
            raise TableError(f"--max_steps: {item!r} is not N or METHOD=N for a method in --methods")
        caps.update({n: int(value) for n in names})
    return caps


def _setup(args: argparse.Namespace) -> tuple[list, list[str], float, dict[str, int]]:
    if args.seeds < 1:
        raise TableError("--seeds must be >= 1")
    if args.first_seed < 0:
        raise TableError("--first_seed must be >= 0")
    if args.n_init < 1:
        raise TableError("--n_init must be >= 1")
    if args.tol < 0:
        raise TableError("--tol must be >= 0")
    if args.workers < 1:
        raise TableError("--workers must be >= 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise TableError(f"--methods: unknown method(s) {unknown}; known: {list(METHODS)}")
    tasks = load_tasks(args.table, table_spec(args))
    budget = float(tasks[0].cost_R[tasks[0].target_rows].sum()) if args.budget is None else args.budget
    if not budget > 0:
        raise TableError("--budget must be > 0")
    for task in tasks:
        for method in methods:
            first_rung = 0 if method in ("mfbo", "mfbo-nuts", "regmix", "mixing_law") else task.target_index
            available = int((task.fidelity_of_R == first_rung).sum())
            if args.n_init > available:
                raise TableError(
                    f"--n_init {args.n_init} exceeds the {available} rows of rung "
                    f"{task.rungs[first_rung]!r} ({task.objective}, {method})"
                )
    return tasks, methods, budget, _max_steps(args.max_steps, methods)


def bo_config(args: argparse.Namespace, bindings: list[str]):
    """The BO methods' `BOPolicyConfig`, from the gin files and bindings: gin is parsed once, here,
    and cleared once the config is built (nothing else reads it), so a binding of the user's that
    building it did not read is refused."""
    import gin

    from admire_jax.bench.bo_policy import BOPolicyConfig  # registers the engine's configurables

    try:
        files = gin_cli.parse_gin(args.gin_file, bindings, gin_cli.search_paths(args))
        config = BOPolicyConfig()
        never = gin_unread.unread(gin_unread.user_parameters(files, bindings, gin_cli.CONFIG_ROOT))
        if never:  # e.g. a trainer setting, or a component the replay does not build
            raise gin_cli.UsageError(f"these gin bindings would never be read by the replay: {', '.join(never)}")
        return config
    except gin_cli.UsageError:
        raise
    except (TypeError, ValueError) as error:
        raise gin_cli.UsageError(f"BO configuration: {str(error).splitlines()[0]}") from None
    finally:
        gin.clear_config()


def _store(args: argparse.Namespace, budget: float, config) -> EpisodeStore:
    """Where finished episodes are kept, keyed by what (besides task, method, seed, cap) fixes them."""
    engine = "" if config is None else json.dumps(config.describe(), sort_keys=True)
    return EpisodeStore(
        os.path.join(args.out, "episodes"),
        {"budget": budget, "n_init": args.n_init},
        engine_config=engine,
        engine_methods=BO_METHODS,
    )


def main(argv: list[str]) -> int:
    """Replay every method over every seed and objective; write summary, curves, table and plot."""
    try:
        args, bindings = gin_cli.parse_args(_parser(), argv)
        tasks, methods, budget, max_steps = _setup(args)
        uses_engine = bool(set(methods) & set(BO_METHODS)) or bool(args.gin_file or bindings)
        config = bo_config(args, bindings) if uses_engine else None
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except (TableError, gin_cli.UsageError) as error:
        print(f"admire-jax replay: error: {error}", file=sys.stderr)
        return 2
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    start = time.time()
    store = _store(args, budget, config)
    progress = tqdm(
        total=len(tasks) * len(methods) * len(seeds), unit="episode", disable=args.no_progress, file=sys.stderr
    )
    try:
        all_episodes = replay_tasks(
            tasks,
            methods,
            seeds,
            budget,
            args.n_init,
            max_steps,
            progress,
            workers=args.workers,
            bo_config=config,
            store=store,
        )
    finally:
        progress.close()
    summary = combine([summarise_task(t, e, budget, args.tol) for t, e in zip(tasks, all_episodes)])
    summary["wall_seconds"] = round(time.time() - start, 1)
    write_outputs(args.out, summary, tasks, all_episodes, seeds)
    print(markdown_table(summary))
    return 0
