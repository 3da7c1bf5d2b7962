"""`admire-jax optimize | status | report | export`: the experiment commands.

  admire-jax optimize --gin_file=configs/experiments/demo.gin --exp_dir=DIR [--gin.X=V]
                      [--warm_start=runs.csv] [--check_seeds=3]
  admire-jax status DIR        trials table and the current recommendation
  admire-jax report DIR        report.md, plots and recommendation.json
  admire-jax export DIR [--out=FILE]   trials as a replay-format runs table (CSV)

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

from admire_jax.experiment.spec import SpecError

SAVED_ARGS = "experiment.json"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise SpecError(message)


def _split_gin(rest: list[str]) -> list[str]:
    bindings = []
    for item in rest:
        if not item.startswith("--gin.") or "=" not in item:
            raise SpecError(f"unrecognised argument {item!r} (gin bindings are --gin.NAME=VALUE)")
        name, _, value = item[len("--gin."):].partition("=")
        bindings.append(f"{name} = {value}")
    return bindings


def _fail(command: str, exc: Exception) -> int:
    print(f"admire-jax {command}: {exc}", file=sys.stderr)
    return 2


def optimize(argv: list[str]) -> int:
    p = _Parser(prog="admire-jax optimize", description="Search the best data mixture with multi-fidelity BO.")
    p.add_argument("--gin_file", action="append", default=[],
                   help="experiment gin file (repeatable; default configs/experiments/demo.gin)")
    p.add_argument("--exp_dir", required=True, help="experiment directory (created; reused to continue)")
    p.add_argument("--warm_start", help="runs table (as written by `admire-jax export`) told before searching")
    p.add_argument("--check_seeds", type=int, help="train recommended and uniform at the target rung with N seeds")
    try:
        args, rest = p.parse_known_args(argv)
        bindings = _split_gin(rest)
        if args.warm_start:
            bindings.append(f"experiment.warm_start = {json.dumps(os.path.abspath(args.warm_start))}")
        if args.check_seeds is not None:
            bindings.append(f"experiment.check_seeds = {args.check_seeds}")
        if not args.gin_file:
            from admire_jax.experiment.config import CONFIG_ROOT

            args.gin_file = [os.path.join(CONFIG_ROOT, "experiments", "demo.gin")]
            print(f"admire-jax optimize: no --gin_file; running the demo ({args.gin_file[0]})")
        files = [os.path.abspath(f) for f in args.gin_file]
        controller = _open(files, bindings, args.exp_dir)
    except (SpecError, ValueError) as exc:
        return _fail("optimize", exc)
    Path(args.exp_dir, SAVED_ARGS).write_text(json.dumps({"gin_files": files, "gin_bindings": bindings}, indent=1))
    from admire_jax.experiment import report

    try:
        controller.search()
        return report.finish(controller, run_check=controller.spec.check_seeds > 0)
    except KeyboardInterrupt:
        print(f"admire-jax optimize: interrupted; running trials go on by themselves. Run the same command "
              f"again to continue {args.exp_dir}", file=sys.stderr)
        return 130


def _open(files: list[str], bindings: list[str], exp_dir: str):
    """The experiment's controller over `exp_dir` (checked against the config; nothing runs yet)."""
    from admire_jax.experiment import config, runs_table
    from admire_jax.experiment.controller import Controller

    exp = config.load(files, bindings)
    _enable_compilation_cache(exp.runtime.compilation_cache)
    warm = []
    if exp.spec.warm_start:
        warm = runs_table.read_warm_start(exp, exp.spec.warm_start)
    controller = Controller(exp, exp_dir, warm, log=_Log(Path(exp_dir) / "controller.log"))
    if exp.spec.warm_start:
        controller.store.check_meta("warm_start", runs_table.file_digest(exp.spec.warm_start))
    return controller


def _reopen(command: str, argv: list[str], extra=()):
    p = _Parser(prog=f"admire-jax {command}")
    p.add_argument("exp_dir")
    for flag, kw in extra:
        p.add_argument(flag, **kw)
    args = p.parse_args(argv)
    saved = Path(args.exp_dir, SAVED_ARGS)
    if not saved.is_file():
        raise SpecError(f"{args.exp_dir} is not an experiment directory (no {SAVED_ARGS}); run `admire-jax optimize` first")
    stored = json.loads(saved.read_text())
    return args, _open(stored["gin_files"], stored["gin_bindings"], args.exp_dir)


def status(argv: list[str]) -> int:
    try:
        _, controller = _reopen("status", argv)
    except (SpecError, ValueError) as exc:
        return _fail("status", exc)
    from admire_jax.experiment import report

    print(report.status_text(controller))
    return 0


def report(argv: list[str]) -> int:
    try:
        _, controller = _reopen("report", argv)
    except (SpecError, ValueError) as exc:
        return _fail("report", exc)
    from admire_jax.experiment import report as report_lib

    return report_lib.finish(controller, run_check=False)


def export(argv: list[str]) -> int:
    try:
        args, controller = _reopen("export", argv, [("--out", dict(help="CSV path (default DIR/runs.csv)"))])
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
