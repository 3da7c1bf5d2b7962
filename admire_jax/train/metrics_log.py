"""Training metrics to TensorBoard event files (tensorboardX) and a JSON-lines log."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from tensorboardX import SummaryWriter


class MetricsLog:
    """Appends one JSON object per logged step to `metrics.jsonl` and mirrors scalars to TensorBoard.

    Only the writing process (process 0) should hold one; appending keeps earlier lines across a resume.
    """

    def __init__(self, run_dir: str):
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(run_dir, "metrics.jsonl")
        self._jsonl = open(self.path, "a", encoding="utf-8")
        self._tb = SummaryWriter(os.path.join(run_dir, "tensorboard"))

    def write(self, step: int, scalars: Mapping[str, float | None]) -> None:
        record = {"step": step, **{k: v for k, v in scalars.items() if v is not None}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for name, value in record.items():
            if name != "step":
                self._tb.add_scalar(name, value, step)

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()


def read_metrics(run_dir: str) -> list[dict]:
    """All records of `run_dir/metrics.jsonl`, in order."""
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
