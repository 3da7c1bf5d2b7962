"""A trial's earlier invocations: the preempted or lost starts before the one that finished it.

A trial that ends `preempted` (the trainer's result.json, exit code 75) or whose process vanished
without a result (a lost node) is started again in its own run folder. Before that, its ending is
archived as `invocation_NN.json` there (under the trial lock): the files say how many times the
trial was started and what each start cost, so the count and the summed cost survive a killed
controller and a resubmission by the executor itself (the trial process archives a preempted
result it finds when it starts). The trial is recorded once, when an invocation ends otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from admire_jax.experiment.trial_lock import RESULT_NAME, read_result

PREEMPTED = "preempted"  # result.json status of a run stopped by its scheduler, to be started again
PREEMPTED_EXIT_CODE = 75  # the trainer's exit code with that status (EX_TEMPFAIL)
LOST = "lost"  # an invocation that ended without a result (its process or node vanished)
PREFIX = "invocation_"


def archive_preempted(run_dir: str | Path) -> bool:
    """Moves a `preempted` result.json aside as the next invocation record; True if there was one.
    The caller holds the trial lock."""
    result = read_result(run_dir)
    if result is None or result.get("status") != PREEMPTED:
        return False
    os.replace(Path(run_dir) / RESULT_NAME, _next_path(run_dir))
    return True


def record_lost(run_dir: str | Path, wall_seconds: float, error: str) -> None:
    """Records an invocation that left no result (its cost: the wall time it held a slot)."""
    record = {"status": LOST, "wall_seconds": float(wall_seconds), "flops": 0.0, "error": error}
    path = _next_path(run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def earlier(run_dir: str | Path) -> list[dict[str, Any]]:
    """The archived invocations of the trial in `run_dir`, oldest first."""
    paths = sorted(Path(run_dir).glob(f"{PREFIX}[0-9]*.json"))
    return [json.loads(p.read_text()) for p in paths]


@dataclasses.dataclass(frozen=True)
class TrialCost:
    """What a trial cost over all its invocations, and the part of it lost to restarts from zero."""

    flops: float | None
    wall_seconds: float | None
    wasted_flops: float
    wasted_wall_seconds: float


def total_cost(earlier_runs: Sequence[Mapping[str, Any]], final: Mapping[str, Any]) -> TrialCost:
    """The summed cost of a trial's invocations. The trainer reports each invocation's own wall
    seconds, and FLOPs of every step up to where it stopped, counting the steps a resumed start
    took over from its checkpoint. So: wall seconds add up; FLOPs are the final count plus those of
    the earlier invocations that left nothing to resume from (`resumable` false, or lost), whose
    work is also the wasted part."""
    wasted = [r for r in earlier_runs if not r.get("resumable", False)]
    wall = [r.get("wall_seconds") for r in (*earlier_runs, final)]
    flops = final.get("flops")
    wasted_flops = sum(float(r.get("flops") or 0.0) for r in wasted)
    return TrialCost(
        flops=None if flops is None else float(flops) + wasted_flops,
        wall_seconds=None if any(w is None for w in wall) else float(sum(wall)),
        wasted_flops=wasted_flops,
        wasted_wall_seconds=sum(float(r.get("wall_seconds") or 0.0) for r in wasted),
    )


def _next_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / f"{PREFIX}{len(earlier(run_dir)) + 1:02d}.json"
