"""A virtual clock and an executor on it, for scheduling tests that take no real time.

A job runs for a virtual duration that grows with its rung's train tokens; when the clock passes
its end, the trial command runs in this process (the synthetic trainer: instant) and writes its
result. Until then the job holds the trial lock, as a live trial process does, so a controller
started again adopts it instead of launching it twice. `Abandon` ends a controller at chosen
moments, as kill -9 would, while its jobs go on.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

from admire_jax.experiment import trial, trial_lock
from admire_jax.experiment.store import TrialStore

SECONDS_PER_TOKEN = 0.1  # a trial of 256 tokens (the smoke ladder's cheapest rung) takes 25.6 s


class Abandoned(Exception):
    """The controller was abandoned here (as if killed)."""


class Abandon:
    """Counts the moments where a controller may be killed and raises Abandoned at the chosen ones."""

    def __init__(self, at: Sequence[int] = ()):
        self.at, self.ticks = set(at), 0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks in self.at:
            raise Abandoned(f"abandoned at moment {self.ticks}")

    @contextlib.contextmanager
    def on_store_writes(self, monkeypatch):
        """Makes every store write a moment (just after the write, before what follows it)."""
        for name in ("add_many", "mark_running", "record_result", "check_meta"):
            original = getattr(TrialStore, name)

            def wrapped(store, *args, _original=original, **kwargs):
                out = _original(store, *args, **kwargs)
                self.tick()
                return out

            monkeypatch.setattr(TrialStore, name, wrapped)
        yield self


class VirtualClock:
    """Time that passes only when the controller sleeps; jobs end as it passes them."""

    def __init__(self, abandon: Abandon | None = None):
        self.now, self.jobs, self.abandon = 0.0, [], abandon

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.abandon is not None:
            self.abandon.tick()
        target = self.now + seconds
        for job in sorted(self.jobs, key=lambda j: j.end):
            if not job.finished and job.end <= target:
                self.now = max(self.now, job.end)
                job.finish()
        self.now = target


class VirtualJob:
    def __init__(self, command: Sequence[str], run_dir: Path, clock: VirtualClock):
        self.command, self.finished, self.code = list(command), False, None
        tokens = next(int(a.split("=")[1]) for a in command if a.startswith("--gin.TRAIN_TOKENS="))
        self.end = clock.now + tokens * SECONDS_PER_TOKEN
        self._lock = contextlib.ExitStack()
        try:
            self._lock.enter_context(trial_lock.hold(run_dir))
        except trial_lock.TrialBusy:
            self.finished, self.code = True, trial.EXIT_BUSY

    def finish(self) -> None:
        self._lock.close()
        self.code = trial.main(self.command[3:])  # after `python -m admire_jax.experiment.trial`
        self.finished = True

    def done(self) -> bool:
        return self.finished

    def error(self) -> str | None:
        return None if self.code == 0 else f"exit code {self.code}"


class VirtualExecutor:
    """`slots` trials at once on the virtual clock; records what it was given."""

    def __init__(self, clock: VirtualClock, slots: int = 2):
        self.clock, self.slots, self.submitted = clock, slots, []

    def submit(self, command: Sequence[str], run_dir: Path, slot: int) -> VirtualJob:
        if self.clock.abandon is not None:
            self.clock.abandon.tick()
        assert 0 <= slot < self.slots and slot not in {s for _, s, j in self.submitted if not j.finished}
        job = VirtualJob(command, Path(run_dir), self.clock)
        self.clock.jobs.append(job)
        self.submitted.append((Path(run_dir).name, slot, job))
        return job
