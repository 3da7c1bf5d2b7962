"""How long the controller waits before it polls its trials again: backing off while nothing happens.

The wait is a function of the time since the store's last event (a launch or a finish), not of how
long this controller process has been polling, so a controller started again after a kill waits
exactly as the one it replaces would have.
"""

from __future__ import annotations

from typing import Sequence

from admire_jax.experiment.store import Trial


def wait_seconds(now: float, last_event: float | None, base: float, maximum: float) -> float:
    """`base` right after an event, doubling with the idle time since it, at most `maximum`."""
    idle = 0.0 if last_event is None else max(0.0, now - last_event)
    wait = base
    while wait * 2 <= idle and wait < maximum:
        wait *= 2
    return min(wait, maximum)


def last_event(trials: Sequence[Trial]) -> float | None:
    """When a trial was last launched or recorded, or None before any launch."""
    times = [s for t in trials for s in (t.started, t.finished) if s is not None]
    return max(times, default=None)
