"""The experiment loop: keep the executor's slots busy with proposed trials, and record what ends.

Asynchronous: whenever slots are free, one ask proposes trials for all of them, told the finished
search trials and fantasising the unfinished ones as pending, so a slot freed by a cheap proxy
gets new work while a target-rung trial still runs, and trials of different rungs run side by
side. A trial's expected cost is committed when it is proposed, so the search overshoots its
budget by at most one trial. Each proposal is a function of its record in the store (the finished
and pending trials, the experiment seed, its trial id; see proposals.py), never of a count that
depends on timing. The confirmation phase starts once the search trials it ranks have finished;
the uniform half of the check needs nothing and fills slots the search leaves idle.

The store is the single source of truth. Restarting after a kill -9: finished trials stay; trials
whose process still holds its lock are waited for (adopted); trials with a result but no record
are recorded; pending ones are launched. A trial that ends `preempted`, or whose process vanished
without a result, is started again in its own run folder up to `experiment.max_restarts` times,
and recorded once with the cost of all its starts (invocations.py).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

from admire_jax.experiment import invocations, polling, proposals, trial, trial_lock
from admire_jax.experiment.config import LoadedExperiment, trial_bindings
from admire_jax.experiment.executors import Job
from admire_jax.experiment.proposals import Observation
from admire_jax.experiment.store import FAILED, FINISHED, OK, PENDING, RUNNING, SEARCH, Trial, TrialStore

CHECK_ROLES = ("recommended", "uniform")


class _Adopted:
    """A trial process started by an earlier controller: done when it lets go of its lock."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir

    def done(self) -> bool:
        return not trial_lock.is_live(self.run_dir)

    def error(self) -> str | None:
        return None


class Controller:
    """Runs one experiment in `exp_dir` to the end of its budget (resuming whatever is there).
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
        self._capped: tuple | None = None  # the state of the last ask that a rung cap cut short
        self._silent: set[int] = set()  # trials whose executor failed to answer a poll

    # ------------------------------------------------------------------ the loop
    def search(self) -> str:
        """Runs search trials until the budget is spent; returns why it stopped."""
        self._resume()
        while True:
            self._collect()
            while self._free_slots() > 0 and self._propose():
                pass
            self._add_uniform_checks()
            self._start_queued()
            trials = self.store.trials()
            if not any(t.role == SEARCH and not t.is_finished for t in trials):
                reason = self.stop_reason(trials)
                if reason:
                    self.log(f"search stopped: {reason}")
                    return reason
            self._wait()

    def check(self, mixture: dict[str, float]) -> None:
        """Trains `mixture` and the uniform mixture at the target rung with seeds 0..check_seeds-1 each
        (seeds already trained, e.g. before a restart or in slots the search left idle, are kept)."""
        uniform = {d: 1.0 / len(self.spec.domains) for d in self.spec.domains}
        for role, w in zip(CHECK_ROLES, (mixture, uniform)):
            self._add_checks(role, w, self.spec.confirmation.check_seeds)
        self.run_unfinished()

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

    def stop_reason(self, trials: Sequence[Trial]) -> str | None:
        """Why no more search trials are proposed, or None."""
        searched = [t for t in trials if t.role == SEARCH]
        spent, budget = self.spent(searched), self.spec.budget
        confirm_from = self._confirm_from(trials)
        if confirm_from is not None:
            told = list(self.warm) + proposals.observations(self.exp, searched[:confirm_from])
            planned = proposals.num_confirmations(self.exp, proposals.target_mixtures(self.exp, told))
            if len(searched) - confirm_from >= planned:
                return (
                    f"budget spent ({spent:.4g} of {budget.amount:.4g} {budget.unit}, "
                    f"the last {planned} trials confirming the best target mixtures)"
                )
        elif spent >= budget.amount:
            return f"budget spent ({spent:.4g} of {budget.amount:.4g} {budget.unit})"
        if budget.max_trials is not None and len(searched) >= budget.max_trials:
            return f"max_trials={budget.max_trials} reached"
        streak, ended = 2 * self.spec.q + 3, [t for t in searched if t.is_finished]
        if len(ended) >= streak and all(t.status != OK for t in ended[-streak:]):
            return (
                f"the last {streak} trials all failed; "
                f"see their errors with `admire-jax status --exp_dir={self.exp_dir}`"
            )
        return None

    def spent(self, trials: Sequence[Trial]) -> float:
        """The measured cost of the finished ones among `trials` (all their invocations)."""
        costs = [self.spec.budget.measured_cost(t.flops, t.wall_seconds) for t in trials if t.is_finished]
        return float(sum(c for c in costs if c is not None and math.isfinite(c)))

    def expected_cost(self, rung: str, trials: Sequence[Trial]) -> float:
        """A trial's cost at `rung`: the mean measured over the successful search `trials` there,
        or the declared price before any."""
        measured = [
            self.spec.budget.measured_cost(t.flops, t.wall_seconds)
            for t in trials
            if t.role == SEARCH and t.rung == rung and t.status == OK
        ]
        measured = [c for c in measured if c is not None and math.isfinite(c)]
        return sum(measured) / len(measured) if measured else self.exp.rung_costs[rung]

    def committed(self, trials: Sequence[Trial]) -> float:
        """The search's spending so far: measured for finished search trials, expected for the rest."""
        searched = [t for t in trials if t.role == SEARCH]
        return self.spent(searched) + sum(self.expected_cost(t.rung, trials) for t in searched if not t.is_finished)

    def _search_limit(self) -> float:
        """What the search proper may commit: the budget less the confirmations' share."""
        reserve = self.spec.confirmation.trials * self.exp.rung_costs[self.spec.target_rung]
        return self.spec.budget.amount - (reserve if self.spec.confirmation.top else 0.0)

    def _confirm_from(self, trials: Sequence[Trial]) -> int | None:
        """With `confirm_top`: the number of search trials before the confirmation phase, once the
        search has spent all but the confirmations' share of the budget and all its trials have
        finished (stored, so that a resumed controller confirms the same mixtures); else None."""
        if not self.spec.confirmation.top:
            return None
        stored = self.store.meta("confirm_from")
        if stored is not None:
            return int(stored)
        searched = [t for t in trials if t.role == SEARCH]
        if self.spent(searched) < self._search_limit() or any(not t.is_finished for t in searched):
            return None
        self.store.check_meta("confirm_from", str(len(searched)))
        return len(searched)

    # ------------------------------------------------------------------ proposing
    def _propose(self) -> bool:
        """Adds search trials for the free slots, in one ask; False if it added none."""
        trials = self.store.trials()
        if self.stop_reason(trials):
            return False
        searched = [t for t in trials if t.role == SEARCH]
        confirm_from, limit = self._confirm_from(trials), self._search_limit()
        committed = self.committed(trials)
        if confirm_from is None and committed >= limit:
            return False  # what is committed uses the budget; wait for the running trials
        n = self._free_slots()
        if self.spec.budget.max_trials is not None:
            n = min(n, self.spec.budget.max_trials - len(searched))
        running = self._running_per_rung(trials)
        state = (
            tuple(t.id for t in searched if t.is_finished),
            tuple(t.id for t in searched if not t.is_finished),
            tuple(sorted(running.items())),
        )
        if n < 1 or state == self._capped:
            return False
        items = proposals.propose(self.exp, self.warm, trials, n, self.store.next_id(), confirm_from)
        accepted = []
        for mixture, rung, basis in items:  # in order: design and confirmations are sequences
            if running.get(rung, 0) >= self._cap(rung) and "pending" in basis:
                rung, basis = self._below_cap(rung, running), {**basis, "asked_rung": rung}
            if rung is None or running.get(rung, 0) >= self._cap(rung):
                self._capped = state
                break
            if confirm_from is None and committed >= limit:
                break
            accepted.append((mixture, rung, basis))
            running[rung] = running.get(rung, 0) + 1
            committed += self.expected_cost(rung, trials)
        if not accepted:
            return False
        seeds = [self.spec.search_seed(len(searched) + i) for i in range(len(accepted))]
        added = self.store.add_many(
            [(m, r) for m, r, _ in accepted], self.runs_root, seed=seeds, bases=[b for _, _, b in accepted]
        )
        for t in added:
            self.log(f"trial {t.id} proposed: rung {t.rung}, seed {t.seed}, mixture {_short(t.mixture)}")
        self.queue += [t.id for t in added]
        return True

    def _add_uniform_checks(self) -> None:
        """The uniform mixture's check trials, in slots the search leaves free (they need no result)."""
        free = self._free_slots()
        if free > 0 and self.spec.confirmation.check_seeds:
            running = self._running_per_rung(self.store.trials()).get(self.spec.target_rung, 0)
            free = min(free, self._cap(self.spec.target_rung) - running)
            uniform = {d: 1.0 / len(self.spec.domains) for d in self.spec.domains}
            self._add_checks("uniform", uniform, self.spec.confirmation.check_seeds, limit=free)

    def _add_checks(self, role: str, mixture: dict[str, float], seeds: int, limit: int | None = None) -> None:
        done = {t.seed for t in self.store.trials() if t.role == role}
        missing = [s for s in range(seeds) if s not in done][:limit]
        if missing:
            added = self.store.add_many(
                [(mixture, self.spec.target_rung)] * len(missing), self.runs_root, role, missing
            )
            self.queue += [t.id for t in added]

    def _below_cap(self, rung: str, running: dict[str, int]) -> str | None:
        """The dearest rung cheaper than `rung` with room under its cap: where a BO proposal for a
        full rung goes (the same mixture, measured more cheaply, still informs the target), or None."""
        names = self.spec.ladder.names  # cheapest first
        cheaper = [r for r in names[: names.index(rung)] if running.get(r, 0) < self._cap(r)]
        return cheaper[-1] if cheaper else None

    def _cap(self, rung: str) -> float:
        return dict(self.runtime.max_running or {}).get(rung, math.inf)

    def _running_per_rung(self, trials: Sequence[Trial]) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in trials:
            if not t.is_finished:
                out[t.rung] = out.get(t.rung, 0) + 1
        return out

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
        run_dir.mkdir(parents=True, exist_ok=True)
        mixture_path = run_dir / "mixture.json"
        mixture_path.write_text(json.dumps({"mixture": t.mixture}))
        rung = self.spec.ladder.rung(t.rung)
        args = [f"--preset={rung.preset}", f"--mixture={mixture_path}", f"--run_dir={run_dir}"]
        for binding in trial_bindings(self.spec, t.rung, t.seed):
            name, _, value = binding.partition("=")
            args.append(f"--gin.{name.strip()}={value.strip()}")
        slot = self._slot()
        self.store.mark_running(t.id, slot)
        setup = self.spec.trial_setup
        command = trial.command(
            str(run_dir), setup.trainer, args, setup.imports, keep_checkpoints=t.rung in setup.checkpoint_rungs
        )
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


def _short(mixture: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in mixture.items()) + "}"
