"""How long the controller waits before it polls its trials again: backing off while nothing happens.

The wait is a function of the time since the store's last event (a launch or a finish), not of how
long this controller process has been polling, so a controller started again after a kill waits
exactly as the one it replaces would have.
"""

from __future__ import annotations

from typing import Sequence

from admire_jax.experiment.store import Trial

IDLE_FRACTION = 0.1  # the wait, as a share of the time since the last event


def wait_seconds(now: float, last_event: float | None, base: float, maximum: float) -> float:
    """`base` right after an event, then a tenth of the idle time since it (so a trial's end is
    noticed within a tenth of its run time), at most `maximum`."""
    idle = 0.0 if last_event is None else max(0.0, now - last_event)
    return min(max(base, idle * IDLE_FRACTION), maximum)


def last_event(trials: Sequence[Trial]) -> float | None:
    """When a trial was last launched or recorded, or None before any launch."""
    times = [s for t in trials for s in (t.started, t.finished) if s is not None]
    return max(times, default=None)
