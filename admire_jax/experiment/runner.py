"""Running trials through the executor: launching, polling, adopting, restarting and recording them.

The store is the single source of truth. Restarting after a kill -9: finished trials stay; trials
whose process still holds its lock are waited for (adopted); trials with a result but no record
are recorded; pending ones are launched. A trial that ends `preempted`, or whose process vanished
without a result, is started again in its own run folder up to `experiment.max_restarts` times,
and recorded once with the cost of all its starts (invocations.py). Polls back off while nothing
happens (polling.py); a trial without a result `Runtime.trial_timeout_seconds` after its launch
is given up as failed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

from admire_jax.experiment import invocations, polling, trial_lock
from admire_jax.experiment.config import LoadedExperiment, trial_command
from admire_jax.experiment.executors import Job
from admire_jax.experiment.proposals import Observation
from admire_jax.experiment.store import FAILED, FINISHED, OK, PENDING, RUNNING, SEARCH, Trial, TrialStore


class _Adopted:
    """A trial process started by an earlier controller: done when it lets go of its lock."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir

    def done(self) -> bool:
        return not trial_lock.is_live(self.run_dir)

    def error(self) -> str | None:
        return None


class TrialRunner:
    """Runs the trials of the experiment in `exp_dir` on the executor's slots, recording each once.
    `clock` and `sleep` are the time it lives by (a virtual clock in tests)."""

    def __init__(
        self,
        exp: LoadedExperiment,
        exp_dir: str | Path,
        warm: Sequence[Observation] = (),
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.exp, self.spec, self.warm, self.log = exp, exp.spec, list(warm), log
        self.clock, self.sleep = clock, sleep
        self.exp_dir = Path(exp_dir)
        self.store = TrialStore(self.exp_dir / "trials.sqlite", clock=clock)
        self.store.check_meta("spec", self.exp.spec.fingerprint())
        self.runs_root = self.exp_dir / "runs"
        self.runtime = exp.runtime
        self.executor = exp.runtime.executor
        self.jobs: dict[int, tuple[Job, int]] = {}  # trial id -> (job, slot)
        self.queue: list[int] = []  # trials to launch when a slot frees, oldest first
        self._silent: set[int] = set()  # trials whose executor failed to answer a poll

    def run_unfinished(self) -> None:
        """Takes charge of every unfinished trial in the store (one whose process still holds its
        lock is waited for, one with a result is recorded, the rest are launched) and returns when
        all of them are recorded."""
        self._resume()
        while True:
            self._collect()
            self._start_queued()
            if not (self.jobs or self.queue):
                return
            self._wait()

    def spent(self, trials: Sequence[Trial]) -> float:
        """The measured cost of the finished ones among `trials` (all their invocations)."""
        costs = [self.spec.budget.measured_cost(t.flops, t.wall_seconds) for t in trials if t.is_finished]
        return float(sum(c for c in costs if c is not None and math.isfinite(c)))

    # ------------------------------------------------------------------ running trials
    def _free_slots(self) -> int:
        return self.executor.slots - len(self.jobs) - len(self.queue)

    def _slot(self, preferred: int | None = None) -> int:
        used = {slot for _, slot in self.jobs.values()}
        if preferred is not None and preferred not in used:
            return preferred
        return next(s for s in range(len(used) + 1) if s not in used)

    def _resume(self) -> None:
        """Takes charge of every unfinished trial not already tracked by this process."""
        for t in self.store.trials(PENDING, RUNNING):
            if t.id in self.jobs or t.id in self.queue:
                continue
            if t.status == RUNNING and trial_lock.is_live(t.run_dir):
                self.log(f"trial {t.id} still running from an earlier controller; waiting for it")
                self.jobs[t.id] = (_Adopted(t.run_dir), self._slot(t.slot))
            elif t.status == RUNNING:
                self._settle(t, None, self._slot(t.slot))
            else:
                self.queue.append(t.id)

    def _collect(self) -> None:
        """Settles every trial whose job has ended; gives up on those past the trial timeout."""
        now = self.clock()
        for trial_id in sorted(self.jobs):
            job, slot = self.jobs[trial_id]
            try:
                done = job.done()
                error = job.error() if done else None
            except Exception as exc:  # an executor that does not answer (e.g. the cluster's queue is down)
                if trial_id not in self._silent:
                    self.log(f"trial {trial_id}: its executor does not answer ({type(exc).__name__}: {exc})")
                    self._silent.add(trial_id)
                done = False
            if done:
                del self.jobs[trial_id]
                self._settle(self.store.get(trial_id), error, slot)
            else:
                self._time_out(self.store.get(trial_id), now)

    def _time_out(self, t: Trial, now: float) -> None:
        timeout = self.runtime.trial_timeout_seconds
        if timeout is None or t.started is None or now - t.started <= timeout:
            return
        del self.jobs[t.id]
        error = f"no result {timeout:g} s after its launch (Runtime.trial_timeout_seconds); its job is left running"
        self._report(self.store.record_result(t.id, FAILED, wall_seconds=now - t.started, error=error))

    def _settle(self, t: Trial, job_error: str | None, slot: int) -> None:
        """Records the trial from its result.json, or starts it again (preempted, lost or never
        started); a trial whose lock a live process still holds is waited for."""
        try:
            with trial_lock.hold(t.run_dir):
                if self.store.get(t.id).status in FINISHED:
                    return
                try:
                    result = trial_lock.read_result(t.run_dir)
                except ValueError as exc:
                    self._report(self.store.record_result(t.id, FAILED, error=str(exc)))
                    return
                if result is None and job_error is None:  # never started, or died without a word
                    self.queue.append(t.id)
                    return
                if result is None:
                    invocations.record_lost(t.run_dir, self.clock() - (t.started or self.clock()), job_error)
                elif result.get("status") == invocations.PREEMPTED:
                    invocations.archive_preempted(t.run_dir)
                else:
                    self._record(t, result)
                    return
                self._restart(t)
        except trial_lock.TrialBusy:
            self.jobs[t.id] = (_Adopted(t.run_dir), slot)

    def _restart(self, t: Trial) -> None:
        """Starts a preempted or lost trial again, or records it failed once it has had its restarts."""
        earlier = invocations.earlier(t.run_dir)
        last, limit = earlier[-1], self.spec.trial_setup.max_restarts
        how = "preempted" if last.get("status") == invocations.PREEMPTED else "lost"
        if len(earlier) <= limit:
            self.log(f"trial {t.id} {how}; starting it again ({len(earlier)} of {limit} restarts)")
            self.queue.append(t.id)
            return
        cost = invocations.total_cost(earlier, {"flops": 0.0, "wall_seconds": 0.0})
        error = f"{how} on its start {len(earlier)}, after {limit} restarts (experiment.max_restarts)"
        if last.get("error"):
            error += f": {last['error']}"
        self._report(
            self.store.record_result(
                t.id,
                FAILED,
                wall_seconds=cost.wall_seconds,
                flops=cost.flops,
                error=error,
                restarts=len(earlier) - 1,
                wasted_flops=cost.wasted_flops,
                wasted_wall_seconds=cost.wasted_wall_seconds,
            )
        )

    def _record(self, t: Trial, result: dict) -> None:
        earlier = invocations.earlier(t.run_dir)
        cost = invocations.total_cost(earlier, result)
        losses = {k: v for k, v in (result.get("val_loss") or {}).items() if v is not None}
        scores = {k: v for k, v in (result.get("scores") or {}).items() if v is not None}
        recorded = self.store.record_result(
            t.id,
            result.get("status", FAILED),
            losses=losses or None,
            wall_seconds=cost.wall_seconds,
            flops=cost.flops,
            error=result.get("error"),
            scores=scores or None,
            restarts=len(earlier),
            wasted_flops=cost.wasted_flops,
            wasted_wall_seconds=cost.wasted_wall_seconds,
        )
        self._report(recorded)

    def _start_queued(self) -> None:
        self.queue.sort()
        while self.queue and len(self.jobs) < self.executor.slots:
            self._launch(self.store.get(self.queue.pop(0)))

    def _launch(self, t: Trial) -> None:
        run_dir = Path(t.run_dir)
        command = trial_command(self.spec, t.rung, t.seed, run_dir, t.mixture)
        slot = self._slot()
        self.store.mark_running(t.id, slot)
        self.jobs[t.id] = (self.executor.submit(command, run_dir, slot), slot)

    def _wait(self) -> None:
        """Sleeps until the next poll: longer the longer nothing has happened."""
        last = polling.last_event(self.store.trials())
        self.sleep(polling.wait_seconds(self.clock(), last, self.runtime.poll_seconds, self.runtime.max_poll_seconds))

    def _report(self, t: Trial) -> None:
        searched = [s for s in self.store.trials() if s.role == SEARCH]
        value = self.spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan
        cost = self.spec.budget.measured_cost(t.flops, t.wall_seconds)
        line = (
            f"trial {t.id} [{t.role} {t.rung}] {t.status}: objective {value:.4f}, cost "
            f"{cost if cost is None else f'{cost:.3g}'} {self.spec.budget.unit}, spent "
            f"{self.spent(searched) / self.spec.budget.amount:.0%} of the budget"
        )
        if t.restarts:
            line += f", {t.restarts + 1} starts"
        if t.error:
            line += f"; error: {t.error.splitlines()[0][:200]}"
        self.log(line)
