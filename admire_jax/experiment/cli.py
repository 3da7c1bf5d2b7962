"""`admire-jax optimize | status | report | export`: the experiment commands.

  admire-jax optimize --gin_file=configs/experiments/demo.gin --exp_dir=DIR [--gin.X=V]
                      [--gin_search_paths=DIR] [--warm_start=runs.csv] [--check_seeds=3]
  admire-jax status --exp_dir=DIR     trials table, current recommendation, running trials, slot use, ETA
  admire-jax report --exp_dir=DIR     report.md, plots and recommendation.json
  admire-jax export --exp_dir=DIR [--out=FILE]   trials as a replay-format runs table (CSV)

`status`, `report` and `export` read the experiment's gin files and bindings from DIR; gin options
given to them are read after those (e.g. `--gin.Runtime.compilation_cache=None`).
Exit codes: 0 done, 1 the experiment ran but could not recommend, 2 bad input (message, no traceback),
130 interrupted (Ctrl-C).
Running `optimize` again with the same arguments continues a stopped or killed experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from admire_jax import gin_cli
from admire_jax.experiment.spec import DEFAULT_TRAINER, SpecError

SAVED_ARGS = "experiment.json"
DEMO = os.path.join(gin_cli.CONFIG_ROOT, "experiments", "demo.gin")


def _fail(command: str, exc: Exception) -> int:
    print(f"admire-jax {command}: {exc}", file=sys.stderr)
    return 2


def _parser(command: str, description: str) -> gin_cli.ArgumentParser:
    p = gin_cli.parser(f"admire-jax {command}", description)
    p.add_argument(
        "--exp_dir",
        required=True,
        type=_local_folder,
        help="experiment directory, on a local or shared POSIX filesystem"
        + (" (created; reused to continue)" if command == "optimize" else " (written by optimize)"),
    )
    return p


def _local_folder(path: str) -> str:
    """--exp_dir as given, refused when it names object storage: the experiment's SQLite store and
    its trial locks need POSIX file locking, which gs:// and its kind do not offer."""
    from admire_jax.data.paths import is_remote

    if is_remote(path):
        raise argparse.ArgumentTypeError(
            f"{path} is object storage; the experiment folder holds a SQLite store and lock files, which "
            "need a local or shared POSIX filesystem (a local disk, NFS, Lustre): give such a path"
        )
    return path


def optimize(argv: list[str]) -> int:
    from admire_jax.experiment import config

    p = _parser("optimize", "Search the best data mixture with multi-fidelity BO.")
    p.add_argument("--warm_start", help="runs table (as written by `admire-jax export`) told before searching")
    p.add_argument("--check_seeds", type=int, help="train recommended and uniform at the target rung with N seeds")
    try:
        args, bindings = gin_cli.parse_args(p, argv)
        if args.warm_start:
            bindings.append(f"experiment.warm_start = {json.dumps(os.path.abspath(args.warm_start))}")
        if args.check_seeds is not None:
            bindings.append(f"experiment.check_seeds = {args.check_seeds}")
        if not args.gin_file:
            args.gin_file = [DEMO]
            print(f"admire-jax optimize: no --gin_file; running the demo ({DEMO})")
        paths = gin_cli.given_search_paths(args)
        controller = _open(args.gin_file, bindings, paths, args.exp_dir)
        from admire_jax.data.builtin_check import RECORD_KEY, check_builtin_fingerprint

        recorded, started = controller.store.meta(RECORD_KEY), bool(controller.store.trials())
        current = check_builtin_fingerprint(recorded, f"the experiment {args.exp_dir}", started)  # other: exit 2
        controller.store.check_meta(RECORD_KEY, current)
        setup = controller.spec.trial_setup
        if setup.trainer == DEFAULT_TRAINER and not setup.sources:  # (instruction sources: in config.load)
            config.prepare_data(controller.spec)
    except (SpecError, ValueError) as exc:
        return _fail("optimize", exc)
    saved = {"gin_files": list(controller.exp.gin_files), "gin_bindings": bindings, "gin_search_paths": paths}
    Path(args.exp_dir, SAVED_ARGS).write_text(json.dumps(saved, indent=1))
    from admire_jax.experiment import report

    try:
        controller.search()
        return report.finish(controller, run_check=controller.spec.confirmation.check_seeds > 0)
    except KeyboardInterrupt:
        print(
            f"admire-jax optimize: interrupted; running trials go on by themselves. Run the same command "
            f"again to continue {args.exp_dir}",
            file=sys.stderr,
        )
        return 130


def _open(files: list[str], bindings: list[str], search_paths: list[str], exp_dir: str):
    """The experiment's controller over `exp_dir` (checked against the config; nothing runs yet).
    Gin is parsed here, once: `config.load` builds every experiment object from it."""
    from admire_jax.experiment import config, runs_table
    from admire_jax.experiment.controller import Controller

    exp = config.load(files, bindings, gin_cli.with_default_search_paths(search_paths))
    _enable_compilation_cache(exp.runtime.compilation_cache)
    warm = []
    if exp.spec.warm_start:
        warm = runs_table.read_warm_start(exp, exp.spec.warm_start)
    controller = Controller(exp, exp_dir, warm, log=_Log(Path(exp_dir) / "controller.log"))
    if exp.spec.warm_start:
        controller.store.check_meta("warm_start", runs_table.file_digest(exp.spec.warm_start))
    return controller


def _reopen(command: str, description: str, argv: list[str], extra=()):
    p = _parser(command, description)
    for flag, kw in extra:
        p.add_argument(flag, **kw)
    args, bindings = gin_cli.parse_args(p, argv)
    saved = Path(args.exp_dir, SAVED_ARGS)
    if not saved.is_file():
        raise SpecError(
            f"{args.exp_dir} is not an experiment directory (no {SAVED_ARGS}); run `admire-jax optimize` first"
        )
    stored = json.loads(saved.read_text())
    missing = [key for key in ("gin_files", "gin_bindings", "gin_search_paths") if key not in stored]
    if missing:
        raise SpecError(
            f"{saved} lacks {missing}: the experiment was written by an earlier admire-jax, whose "
            "experiments this version cannot continue or report"
        )
    paths = [*stored["gin_search_paths"], *gin_cli.given_search_paths(args)]
    files = [*stored["gin_files"], *args.gin_file]
    return args, _open(files, [*stored["gin_bindings"], *bindings], paths, args.exp_dir)


def status(argv: list[str]) -> int:
    try:
        _, controller = _reopen("status", "Print an experiment's trials and current recommendation.", argv)
    except (SpecError, ValueError) as exc:
        return _fail("status", exc)
    import time

    from admire_jax.experiment import progress, report

    print(report.status_text(controller))
    print(progress.progress_text(controller, time.time()))
    return 0


def report(argv: list[str]) -> int:
    try:
        _, controller = _reopen("report", "Write report.md, plots and recommendation.json.", argv)
    except (SpecError, ValueError) as exc:
        return _fail("report", exc)
    from admire_jax.experiment import report as report_lib

    return report_lib.finish(controller, run_check=False)


def export(argv: list[str]) -> int:
    try:
        args, controller = _reopen(
            "export",
            "Write an experiment's trials as a replay-format runs table.",
            argv,
            [("--out", dict(help="CSV path (default DIR/runs.csv)"))],
        )
    except (SpecError, ValueError) as exc:
        return _fail("export", exc)
    from admire_jax.experiment import runs_table

    out = args.out or os.path.join(args.exp_dir, "runs.csv")
    n = runs_table.export_csv(controller.exp, controller.store.trials(), out)
    print(f"wrote {n} trials to {out}")
    return 0


class _Log:
    """Prints a progress line and appends it, timestamped, to the experiment's controller.log."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, line: str) -> None:
        import time

        print(line, flush=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {line}\n")


def _enable_compilation_cache(directory: str | None) -> None:
    """The BO programs compile once per machine, not once per controller start."""
    if directory is None:
        return
    import jax

    directory = os.path.abspath(os.path.expanduser(directory))
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
