"""`result.json`: the record of one run that the mixture optimiser reads (see CONTRACTS.md)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from admire_jax.train import run_files

RESULT_FILE = "result.json"
STATUSES = ("ok", "diverged", "failed", "preempted")  # preempted: run the same command again


def make_result(
    *,
    mixture: Mapping[str, float],
    preset: str,
    params: int,
    tokens: int,
    steps: int,
    wall_seconds: float,
    flops: float,
    val_loss: Mapping[str, float | None],
    status: str,
    error: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The result record; non-finite losses become null so the file stays strict JSON. It names the
    built-in corpus's content fingerprint (`builtin_corpus`), so losses from other corpora are told apart."""
    from admire_jax.data.builtin_shipped import builtin_fingerprint

    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    clean = {d: (float(v) if v is not None and math.isfinite(v) else None) for d, v in val_loss.items()}
    return {
        "mixture": {k: float(v) for k, v in mixture.items()},
        "preset": preset,
        "params": int(params),
        "tokens": int(tokens),
        "steps": int(steps),
        "wall_seconds": float(wall_seconds),
        "flops": float(flops),
        "val_loss": clean,
        "status": status,
        "error": error,
        "builtin_corpus": builtin_fingerprint(),
        **extra,
    }


def write_result(run_dir: str, result: Mapping[str, Any]) -> str:
    """Write `run_dir/result.json` whole (a reader never sees half a file); `run_dir` may be remote."""
    path = run_files.run_path(run_dir) / RESULT_FILE
    run_files.write_json(path, dict(result))
    return os.fspath(path)


def has_result(run_dir: str) -> bool:
    """Whether `run_dir` holds a result.json."""
    return (run_files.run_path(run_dir) / RESULT_FILE).exists()


def recorded_wall_seconds(run_dir: str) -> float:
    """Wall time that earlier (interrupted, preempted) invocations of this run recorded: part of its cost."""
    try:
        return float(run_files.read_json(run_files.run_path(run_dir) / RESULT_FILE).get("wall_seconds", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0
