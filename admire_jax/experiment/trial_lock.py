"""Per-trial lock and result files, shared by the controller and the trial process.

A running trial holds an exclusive `flock` on `<run_dir>/trial.lock` for its whole life; the kernel
drops it when the process dies, however it dies. So a restarted controller can tell a live trial
from an orphan, and adopts an orphan's `result.json` at most once, because it
takes the lock itself while adopting.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

LOCK_NAME = "trial.lock"
RESULT_NAME = "result.json"


class TrialBusy(RuntimeError):
    """Another live process holds the trial's lock."""


@contextlib.contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """Holds the trial's lock, or raises TrialBusy at once if a live process has it."""
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrialBusy(f"{run_dir} is held by a live process") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def is_live(run_dir: str | Path) -> bool:
    """True while some process holds the trial's lock."""
    try:
        with hold(run_dir):
            return False
    except TrialBusy:
        return True


def read_result(run_dir: str | Path) -> dict[str, Any] | None:
    """The trial's result, or None if it has not written one."""
    path = Path(run_dir) / RESULT_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
