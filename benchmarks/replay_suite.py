"""The replay suite: the search methods over the RegMix Pile table and a grid of generated tables.

Does a search setting hold beyond the one table it was tuned on? Each table is replayed with
`admire-jax replay` (methods mfbo, bo, random, regmix, mixing_law by default), generated tables
scored against their noiseless `_truth` column. The full grid: the RegMix Pile table; a core of
generated tables at D = 19, cost ratio 1:3:6, noise 1x with cheap-to-target Spearman 0.9, 0.6, 0.3
and 0; and around the 0.6 point noise 0 and 3x, cost ratio 1:60:1000, D = 6, D = 60 and a
single-fidelity table. `--grid small` runs the Pile table and the core tables at 0.9, 0.6 and 0.

Resumable: tables are regenerated identically from their seeds and each table's replay keeps its
finished episodes in OUT/replays/TABLE/episodes, so a rerun only runs what is missing. Writes
OUT/suite_summary.md and OUT/suite_summary.json: per table and method the median held cost-to-best
with a 90% bootstrap interval (a median that depends on a censored episode is a bound, marked >=),
the speed-ups mfbo/bo and mfbo/random, and mfbo's share of spend on cheap rungs after its first 10
steps. See docs/replay_suite.md.

  python benchmarks/replay_suite.py --out benchmarks/results/replay_suite --grid small --seeds 5 \\
      --workers 2 --gin_file replay/bo_fast.gin
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from admire_jax import gin_cli
from admire_jax.bench import cli as replay_cli
from admire_jax.bench import metrics
from admire_jax.bench.generate import GeneratorSpec, TableColumns, replay_flag, replay_gin_args, write_table

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILE_TABLE = os.path.join("..", "shared", "data", "regmix_pile_runs.csv")  # relative to the repo root
PILE_COLUMNS = TableColumns("w:", "fidelity", "cost", "loss:avg", False, "1B")
METHODS = ("mfbo", "bo", "random", "regmix", "mixing_law")
SPEEDUPS = (("mfbo", "bo"), ("mfbo", "random"))
CHEAP_SHARE_AFTER_STEPS = 10
CORE = {"domains": 19, "cost_ratio": (1.0, 3.0, 6.0), "rows": (512, 256, 64), "noise": 1.0}


@dataclasses.dataclass(frozen=True)
class SuiteTable:
    """One table of the suite: generated from `generator`, or (None) the RegMix Pile table."""

    name: str
    columns: TableColumns
    generator: GeneratorSpec | None = None


def generated(name: str, **spec) -> SuiteTable:
    """A generated table: the core settings with `spec` changed."""
    generator = GeneratorSpec(**{**CORE, **spec})
    return SuiteTable(name, generator.columns, generator)


PILE = SuiteTable("regmix_pile", PILE_COLUMNS)
CORE_TABLES = {
    "s0.9": generated("s0.9", spearman=0.9, maximize=True, seed=1),
    "s0.6": generated("s0.6", spearman=0.6, maximize=False, seed=2),
    "s0.3": generated("s0.3", spearman=0.3, maximize=True, seed=3),
    "s0.0": generated("s0.0", spearman=0.0, maximize=False, seed=4),
}
AROUND_06 = [  # the s0.6 table's function and mixtures (same seed) with one setting changed
    generated("s0.6_noise0", spearman=0.6, maximize=False, seed=2, noise=0.0),
    generated("s0.6_noise3", spearman=0.6, maximize=False, seed=2, noise=3.0),
    generated("s0.6_cost1-60-1000", spearman=0.6, maximize=False, seed=2, cost_ratio=(1.0, 60.0, 1000.0)),
    generated("s0.6_d6", spearman=0.6, maximize=True, seed=5, domains=6),
    generated("s0.6_d60", spearman=0.6, maximize=True, seed=6, domains=60),
    generated("single_fidelity", spearman=0.6, maximize=True, seed=7, cost_ratio=(1.0,), rows=(64,)),
]
GRIDS = {
    "full": [PILE, *CORE_TABLES.values(), *AROUND_06],
    "small": [PILE, CORE_TABLES["s0.9"], CORE_TABLES["s0.6"], CORE_TABLES["s0.0"]],
}


class SuiteError(ValueError):
    """The suite cannot run as asked; the message names the problem."""


def held_cost(cum_cost_K: np.ndarray, regret_K: np.ndarray, budget: float) -> tuple[float, bool]:
    """(held cost-to-best, censored) of one episode's curve, as the replay's `metrics.cost_to_best`."""
    index = metrics.held_from(regret_K <= metrics.EXACT)
    if index is None or cum_cost_K[index] > budget:
        return float(budget), True
    return float(cum_cost_K[index]), False


def cheap_share(curve: pd.DataFrame, target: str, after_steps: int = CHEAP_SHARE_AFTER_STEPS) -> float:
    """Share of the cost paid after the first `after_steps` steps that went to rungs other than the
    target (NaN when the episode has no such step). One curve row per step, ordered."""
    spent_K = np.diff(curve["cum_cost"].to_numpy(), prepend=np.nan)
    later = curve["step"].to_numpy() > after_steps
    total = float(spent_K[later].sum())
    cheap = float(spent_K[later & (curve["picked_fidelity"].astype(str).to_numpy() != target)].sum())
    return cheap / total if total > 0 else float("nan")


def summarise_replay(curves: pd.DataFrame, budget: float, target: str, methods: Sequence[str]) -> dict:
    """Per method: held cost-to-best per seed, its median (a bound when censored) with a 90% bootstrap
    interval and the solved fraction; the speed-ups in SPEEDUPS; mfbo's cheap share after 10 steps."""
    held: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out: dict = {"methods": {}, "speedups": {}}
    for method in methods:
        episodes = [g.sort_values("step") for _, g in curves[curves["method"] == method].groupby("seed")]
        results = [held_cost(g["cum_cost"].to_numpy(), g["regret"].to_numpy(), budget) for g in episodes]
        cost_N, censored_N = np.array([c for c, _ in results]), np.array([c for _, c in results])
        held[method] = (cost_N, censored_N)
        out["methods"][method] = {
            "median": float(np.median(cost_N)),
            "ci90": metrics.median_ci(cost_N),
            "median_is_bound": metrics.median_is_censored(cost_N, censored_N),
            "solved_fraction": float(1.0 - censored_N.mean()),
            "per_seed": cost_N.tolist(),
        }
        if method == "mfbo":
            shares = [cheap_share(g, target) for g in episodes]
            finite = [s for s in shares if np.isfinite(s)]
            out["mfbo_cheap_share_after_10_steps"] = float(np.median(finite)) if finite else None
    for a, b in SPEEDUPS:
        if a in held and b in held:
            value, ci, censored = metrics.speedup(*held[a], *held[b])
            out["speedups"][f"{a}/{b}"] = {"value": value, "ci90": ci, "censored": censored}
    return out


def table_path(table: SuiteTable, out: str, pile_table: str) -> tuple[str, dict]:
    """The table's CSV (generated into OUT/tables when it is a generated one) and its properties."""
    if table.generator is None:
        if not os.path.isfile(pile_table):
            raise SuiteError(f"the RegMix Pile table {pile_table!r} does not exist (give --pile_table)")
        frame = pd.read_csv(pile_table)
        costs = sorted(frame.groupby(table.columns.fidelity_col)[table.columns.cost_col].median())
        return pile_table, {
            "domains": sum(str(c).startswith(table.columns.weights_prefix) for c in frame.columns),
            "cost_ratio": ":".join(f"{c / costs[0]:g}" for c in costs),
            "objective": f"{table.columns.objective} ({'max' if table.columns.maximize else 'min'})",
        }
    path = os.path.join(out, "tables", f"{table.name}.csv")
    sidecar = write_table(path, table.generator)
    spec = table.generator
    return path, {
        "domains": spec.domains,
        "cost_ratio": ":".join(f"{c:g}" for c in spec.cost_ratio),
        "objective": f"{spec.columns.objective} ({'max' if spec.maximize else 'min'})",
        "noise": spec.noise,
        "spearman": sidecar["spearman"],
        "top_decile_agreement": sidecar["top_decile_agreement"],
        "rows": list(spec.rows),
    }


def run_suite(
    tables: Sequence[SuiteTable],
    out: str,
    pile_table: str,
    methods: Sequence[str] = METHODS,
    seeds: int = 20,
    first_seed: int = 0,
    workers: int = 1,
    max_steps: str | None = None,
    gin_files: Sequence[str] = (),
    gin_bindings: Sequence[str] = (),
) -> dict:
    """Replay every method on every table (reusing finished episodes) and return the suite summary."""
    start = time.time()
    summary: dict = {
        "methods": list(methods),
        "seeds": seeds,
        "first_seed": first_seed,
        "max_steps": max_steps,
        "gin_files": list(gin_files),
        "gin_bindings": list(gin_bindings),
        "tables": {},
    }
    for table in tables:
        path, properties = table_path(table, out, pile_table)
        replay_out = os.path.join(out, "replays", table.name)
        argv = table.columns.replay_options(path) + [
            replay_flag("methods"),
            ",".join(methods),
            replay_flag("seeds"),
            str(seeds),
            replay_flag("first_seed"),
            str(first_seed),
            replay_flag("workers"),
            str(workers),
            replay_flag("out"),
            replay_out,
            *replay_gin_args(list(gin_files), list(gin_bindings)),
        ]
        if max_steps is not None:
            argv += [replay_flag("max_steps"), max_steps]
        print(f"replay suite: table {table.name}", file=sys.stderr, flush=True)
        table_start = time.time()
        if replay_cli.main(argv) != 0:
            raise SuiteError(f"the replay of table {table.name!r} failed (arguments: {' '.join(argv)})")
        with open(os.path.join(replay_out, "summary.json"), encoding="utf-8") as f:
            replay = json.load(f)
        curves = pd.read_csv(os.path.join(replay_out, "curves.csv"))
        summary["tables"][table.name] = {
            "properties": properties,
            "budget": replay["budget"],
            "truth_col": table.columns.truth_col,
            "wall_seconds": round(time.time() - table_start, 1),
            **summarise_replay(curves, replay["budget"], replay["target_fidelity"], methods),
        }
    summary["wall_seconds"] = round(time.time() - start, 1)
    return summary


def _cost(cell: dict) -> str:
    lo, hi = cell["ci90"]
    bound = ">= " if cell["median_is_bound"] else ""
    return f"{bound}{cell['median']:.3g} [{lo:.3g}, {hi:.3g}] ({cell['solved_fraction']:.2f})"


def _speedup(cell: dict | None) -> str:
    if cell is None:
        return "-"
    bound = {"none": "", "lower_bound": ">= ", "upper_bound": "<= ", "both": "(both censored) "}[cell["censored"]]
    return f"{bound}{cell['value']:.3g} [{cell['ci90'][0]:.3g}, {cell['ci90'][1]:.3g}]"


def markdown(summary: dict) -> str:
    """The suite summary as two Markdown tables: cost-to-best per method, then speed-ups and spend."""
    methods = summary["methods"]
    cap = f", max steps {summary['max_steps']}" if summary["max_steps"] else ""
    intro = (
        f"Replay suite: {summary['seeds']} seeds from {summary['first_seed']}, methods {', '.join(methods)}"
        f"{cap}; {summary['wall_seconds']:.0f} s. Held cost-to-best in target-run units (generated tables: "
        "scored on the noiseless truth): median [90% bootstrap CI] (solved fraction); '>=' marks a median "
        "that depends on a censored episode."
    )
    lines = [
        intro,
        "",
        "| table | D | cost ratio | Spearman (top-decile) | noise | " + " | ".join(methods) + " |",
        "|---" * (5 + len(methods)) + "|",
    ]
    for name, t in summary["tables"].items():
        p = t["properties"]
        spearman = "-" if p.get("spearman") is None else f"{p['spearman']:.2f} ({p['top_decile_agreement']:.2f})"
        noise = "-" if "noise" not in p else f"{p['noise']:g}x"
        cells = [_cost(t["methods"][m]) for m in methods]
        lines.append(
            f"| {name} | {p['domains']} | {p['cost_ratio']} | {spearman} | {noise} | " + " | ".join(cells) + " |"
        )
    pairs = [f"{a}/{b}" for a, b in SPEEDUPS]
    header = (
        "| table | "
        + " | ".join(f"speed-up {p} [90% CI]" for p in pairs)
        + f" | mfbo cheap-rung share of spend after step {CHEAP_SHARE_AFTER_STEPS} |"
    )
    lines += ["", header, "|---" * (2 + len(pairs)) + "|"]
    for name, t in summary["tables"].items():
        share = t.get("mfbo_cheap_share_after_10_steps")
        lines.append(
            f"| {name} | "
            + " | ".join(_speedup(t["speedups"].get(p)) for p in pairs)
            + f" | {'-' if share is None else f'{share:.2f}'} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(out: str, summary: dict) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "suite_summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "suite_summary.md"), "w", encoding="utf-8") as f:
        f.write(markdown(summary))


def select_tables(grid: list[SuiteTable], names: str | None, grid_name: str) -> list[SuiteTable]:
    """The tables of `grid` named in the comma-separated `names` (None: all of them), in grid order."""
    if names is None:
        return grid
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = [t.name for t in grid]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise SuiteError(
            f"--tables: {', '.join(unknown) or 'no name'} not in the {grid_name} grid ({', '.join(known)})"
        )
    return [t for t in grid if t.name in wanted]


def _parser() -> gin_cli.ArgumentParser:
    p = gin_cli.parser("replay_suite.py", __doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder (tables/, replays/, suite_summary.{md,json})")
    p.add_argument("--grid", choices=sorted(GRIDS), default="full", help="which tables (small: 4 tables, to iterate)")
    p.add_argument(
        "--tables",
        help="comma-separated names of the grid's tables to run (default: all), e.g. to add tables to a "
        "suite already run or to split a grid across machines",
    )
    p.add_argument("--seeds", type=int, default=20, help="episodes per method and table")
    p.add_argument("--first_seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="episodes run at once (processes)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated replay methods")
    p.add_argument("--max_steps", help="the replay's step cap: N or METHOD=N,... (for quick checks)")
    p.add_argument(
        "--pile_table",
        default=os.path.join(REPO_ROOT, PILE_TABLE),
        help=f"the RegMix Pile table (default: {PILE_TABLE} from the repo root)",
    )
    return p


def main(argv: list[str]) -> int:
    """Run the suite; print and write its summary. Bad input: exit 2."""
    try:
        args, bindings = gin_cli.parse_args(_parser(), argv)
        if args.seeds < 1 or args.first_seed < 0 or args.workers < 1:
            raise SuiteError("--seeds and --workers must be >= 1, --first_seed >= 0")
        gin_files = [gin_cli.resolve(f, gin_cli.search_paths(args)) for f in args.gin_file]
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        summary = run_suite(
            select_tables(GRIDS[args.grid], args.tables, args.grid),
            args.out,
            args.pile_table,
            methods,
            args.seeds,
            args.first_seed,
            args.workers,
            args.max_steps,
            gin_files,
            bindings,
        )
    except (gin_cli.UsageError, SuiteError) as error:
        print(f"replay_suite.py: error: {error}", file=sys.stderr)
        return 2
    write_summary(args.out, summary)
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
