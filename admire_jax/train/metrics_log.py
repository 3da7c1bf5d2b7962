"""Training metrics to TensorBoard event files (tensorboardX) and a JSON-lines log."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from admire_jax.train import run_files

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Appends one JSON object per logged step to `metrics.jsonl` and mirrors scalars to TensorBoard.

    Only the writing process (process 0) should hold one; appending keeps earlier lines across a
    resume. Object storage has no append: for a remote run folder both logs are written in a local
    staging folder (the earlier metrics.jsonl copied into it first) and uploaded after each write,
    so a preempted run's folder holds every line logged before the preemption.
    """

    def __init__(self, run_dir: str):
        self.folder = run_files.run_path(run_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._staging = tempfile.mkdtemp(prefix="admire_jax_metrics_") if run_files.is_remote(self.folder) else None
        local = Path(self._staging or os.fspath(self.folder))
        if self._staging and (self.folder / METRICS_FILE).exists():
            (local / METRICS_FILE).write_bytes((self.folder / METRICS_FILE).read_bytes())
        self._jsonl = open(local / METRICS_FILE, "a", encoding="utf-8")
        self._tb = summary_writer_class()(os.fspath(local / "tensorboard"))

    def write(self, step: int, scalars: Mapping[str, float | None]) -> None:
        record = {"step": step, **{k: v for k, v in scalars.items() if v is not None}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for name, value in record.items():
            if name != "step":
                self._tb.add_scalar(name, value, step)
        if self._staging:
            self._upload()

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()
        if self._staging:
            self._upload()
            shutil.rmtree(self._staging, ignore_errors=True)

    def _upload(self) -> None:
        """Copies the staging folder's files over their remote counterparts."""
        self._tb.flush()
        for local in Path(self._staging).rglob("*"):
            if local.is_file():
                remote = self.folder / local.relative_to(self._staging).as_posix()
                remote.parent.mkdir(parents=True, exist_ok=True)
                remote.write_bytes(local.read_bytes())


def read_metrics(run_dir: str) -> list[dict]:
    """All records of `run_dir/metrics.jsonl`, in order."""
    text = (run_files.run_path(run_dir) / METRICS_FILE).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def summary_writer_class() -> type:
    """tensorboardX's SummaryWriter, imported without torch. tensorboardX imports torch whenever it is
    installed, only to accept torch tensors, which this trainer never logs; in an environment with
    torch that import costs every run seconds (a search trial of the demo trains in under a minute).
    A later `import torch` elsewhere is unaffected."""
    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # makes tensorboardX's `import torch` fail fast, as without torch
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter
