"""One trial's process: holds the trial lock for its whole life and runs the trainer in-process.

    python -m admire_jax.experiment.trial [--import=MODULE]... RUN_DIR
        module:function [TRAINER ARGS...]

The lock tells a restarted controller that this trial is alive (it waits for it instead of
starting it again). A trial that already has a result does not train again, unless that result
says `preempted`: it is archived as an earlier invocation (invocations.py) and the trainer resumes
from the run folder's checkpoint, if it has one. `--import` modules are imported first (gin
registrations its bindings name, e.g. an evaluation function).
Whatever happens, the trial ends with `RUN_DIR/result.json`, unless the process itself is killed.

On a multi-host slice every worker runs this command; only worker 0 (by $SLURM_PROCID,
$TPU_WORKER_ID or $CLOUD_TPU_TASK_ID) holds the lock, the others just join the training.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from typing import Sequence

from admire_jax.experiment import invocations, trial_lock

EXIT_BUSY = 3  # another live process runs this trial
WORKER_VARIABLES = ("SLURM_PROCID", "TPU_WORKER_ID", "CLOUD_TPU_TASK_ID")
IMPORT = "--import="


def command(
    run_dir: str,
    trainer: str,
    trainer_args: list[str],
    imports: Sequence[str] = (),
) -> list[str]:
    """The command line that runs one trial (what executors are given)."""
    return [
        sys.executable,
        "-m",
        "admire_jax.experiment.trial",
        *(IMPORT + m for m in imports),
        str(run_dir),
        trainer,
        *trainer_args,
    ]


def main(argv: list[str]) -> int:
    imports = []
    while argv and argv[0].startswith(IMPORT):
        imports.append(argv[0][len(IMPORT) :])
        argv = argv[1:]
    if len(argv) < 2:
        print(
            "usage: python -m admire_jax.experiment.trial [--import=MODULE]... RUN_DIR module:function [ARGS...]",
            file=sys.stderr,
        )
        return 2
    run_dir, trainer, args = argv[0], argv[1], argv[2:]
    if worker_index() != 0:
        return _run(run_dir, trainer, args, imports, write_failures=False)
    try:
        with trial_lock.hold(run_dir):
            if invocations.archive_preempted(run_dir):
                print(f"{run_dir}: its last start was preempted; starting again")
            if trial_lock.read_result(run_dir) is not None:
                print(f"{run_dir} already has a result; not training again")
                return 0
            return _run(run_dir, trainer, args, imports)
    except trial_lock.TrialBusy as exc:
        print(f"trial: {exc}; not starting a second copy", file=sys.stderr)
        return EXIT_BUSY


def worker_index() -> int:
    """This process's host index in a multi-host trial (0 when run on one host)."""
    for name in WORKER_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def _run(run_dir: str, trainer: str, args: list[str], imports: Sequence[str] = (), write_failures: bool = True) -> int:
    started = time.time()
    module_name, _, func_name = trainer.partition(":")
    try:
        for module in imports:  # a failure is recorded like a trainer's: a failed result.json
            importlib.import_module(module)
        code = int(getattr(importlib.import_module(module_name), func_name)(args) or 0)
    except BaseException as exc:  # the trainer should write its own result; this is the last resort
        traceback.print_exc()
        if write_failures and trial_lock.read_result(run_dir) is None:
            _write_failed(run_dir, f"{type(exc).__name__}: {exc}", time.time() - started)
        return 1
    if write_failures and trial_lock.read_result(run_dir) is None:
        _write_failed(
            run_dir, f"trainer {trainer} exited with {code} without writing result.json", time.time() - started
        )
        return code or 1
    return code


def _write_failed(run_dir: str, error: str, seconds: float) -> None:
    from admire_jax.train.result import make_result, write_result

    write_result(
        run_dir,
        make_result(
            mixture={},
            preset="unknown",
            params=0,
            tokens=0,
            steps=0,
            wall_seconds=seconds,
            flops=0.0,
            val_loss={},
            status="failed",
            error=error,
        ),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
