"""The experiment loop: propose a round of q trials, run them through the executor, record them.

Rounds are synchronous: a round is proposed only when every recorded trial has finished, so the
proposals depend on the recorded results alone, never on timing. The store is the single source
of truth, and each round's trials are added in one transaction. Restarting after a kill -9:
finished trials stay; trials whose process still holds its lock are waited for (adopted);
trials with a result but no record are recorded; the rest are launched again.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

from admire_jax.experiment import proposals, trial, trial_lock
from admire_jax.experiment.config import LoadedExperiment, trial_bindings
from admire_jax.experiment.executors import Job
from admire_jax.experiment.proposals import Observation
from admire_jax.experiment.store import DIVERGED, FAILED, FINISHED, OK, PENDING, RUNNING, SEARCH, Trial, TrialStore

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
    """Runs one experiment in `exp_dir` to the end of its budget (resuming whatever is there)."""

    def __init__(
        self,
        exp: LoadedExperiment,
        exp_dir: str | Path,
        warm: Sequence[Observation] = (),
        log: Callable[[str], None] = print,
    ):
        self.exp, self.spec, self.warm, self.log = exp, exp.spec, list(warm), log
        self.exp_dir = Path(exp_dir)
        self.store = TrialStore(self.exp_dir / "trials.sqlite")
        self.store.check_meta("spec", self.exp.spec.fingerprint())
        self.runs_root = self.exp_dir / "runs"
        self.executor = exp.runtime.executor
        self.jobs: dict[int, tuple[Job, int]] = {}  # trial id -> (job, slot)
        self.queue: list[int] = []

    # ------------------------------------------------------------------ the loop
    def search(self) -> str:
        """Runs rounds until the budget is spent; returns why it stopped."""
        self._resume()
        while True:
            self._wait_for_all()
            trials = self.store.trials()
            reason = self.stop_reason(trials)
            if reason:
                self.log(f"search stopped: {reason}")
                return reason
            items = proposals.next_round(self.exp, self.warm, trials, self._confirm_from(trials))
            if self.spec.budget.max_trials is not None:
                items = items[: self.spec.budget.max_trials - sum(t.role == SEARCH for t in trials)]
            done = sum(t.role == SEARCH for t in trials)
            seeds = [self.spec.search_seed(done + i) for i in range(len(items))]
            added = self.store.add_many(items, self.runs_root, seed=seeds)
            for t in added:
                self.log(f"trial {t.id} proposed: rung {t.rung}, seed {t.seed}, mixture {_short(t.mixture)}")
            self.queue += [t.id for t in added]

    def check(self, mixture: dict[str, float]) -> None:
        """Trains `mixture` and the uniform mixture at the target rung with seeds 0..check_seeds-1 each
        (seeds already trained, e.g. before a restart, are kept)."""
        uniform = {d: 1.0 / len(self.spec.domains) for d in self.spec.domains}
        for role, w in zip(CHECK_ROLES, (mixture, uniform)):
            done = {t.seed for t in self.store.trials() if t.role == role}
            seeds = [s for s in range(self.spec.confirmation.check_seeds) if s not in done]
            if seeds:
                added = self.store.add_many([(w, self.spec.target_rung)] * len(seeds), self.runs_root, role, seeds)
                self.queue += [t.id for t in added]
        self.run_unfinished()

    def stop_reason(self, trials: Sequence[Trial]) -> str | None:
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
        streak = 2 * self.spec.q + 3
        if len(searched) >= streak and all(t.status in (FAILED, DIVERGED) for t in searched[-streak:]):
            return (
                f"the last {streak} trials all failed; "
                f"see their errors with `admire-jax status --exp_dir={self.exp_dir}`"
            )
        return None

    def _confirm_from(self, trials: Sequence[Trial]) -> int | None:
        """With `confirm_top`: the number of search trials before the confirmation phase, once the
        search has spent all but the confirmations' share of the budget (stored, so that a resumed
        controller confirms the same mixtures); else None."""
        if not self.spec.confirmation.top:
            return None
        stored = self.store.meta("confirm_from")
        if stored is not None:
            return int(stored)
        searched = [t for t in trials if t.role == SEARCH]
        reserve = self.spec.confirmation.trials * self.exp.rung_costs[self.spec.target_rung]
        if self.spent(searched) < self.spec.budget.amount - reserve or any(not t.is_finished for t in searched):
            return None
        self.store.check_meta("confirm_from", str(len(searched)))
        return len(searched)

    def spent(self, trials: Sequence[Trial]) -> float:
        costs = [self.spec.budget.measured_cost(t.flops, t.wall_seconds) for t in trials if t.is_finished]
        return float(sum(c for c in costs if c is not None and math.isfinite(c)))

    # ------------------------------------------------------------------ trials
    def run_unfinished(self) -> None:
        """Takes charge of every unfinished trial in the store (one whose process still holds its
        lock is waited for, one with a result is recorded, the rest are launched) and returns when
        all of them are recorded."""
        self._resume()
        self._wait_for_all()

    def _resume(self) -> None:
        """Takes charge of every unfinished trial not already tracked by this process."""
        for t in self.store.trials(PENDING, RUNNING):
            if t.id in self.jobs or t.id in self.queue:
                continue
            if t.status == RUNNING and trial_lock.is_live(t.run_dir):
                self.log(f"trial {t.id} still running from an earlier controller; waiting for it")
                self.jobs[t.id] = (_Adopted(t.run_dir), self._free_slot())
            elif t.status == RUNNING and self._try_finish(t, None):
                pass
            else:
                self.queue.append(t.id)

    def _wait_for_all(self) -> None:
        while self.jobs or self.queue:
            for trial_id, (job, slot) in list(self.jobs.items()):
                if job.done():
                    del self.jobs[trial_id]
                    if not self._try_finish(self.store.get(trial_id), job.error()):
                        self.jobs[trial_id] = (_Adopted(self.store.get(trial_id).run_dir), slot)
            while self.queue and len(self.jobs) < self.executor.slots:
                self._launch(self.store.get(self.queue.pop(0)))
            if self.jobs:
                time.sleep(self.exp.runtime.poll_seconds)

    def _free_slot(self) -> int:
        used = {slot for _, slot in self.jobs.values()}
        return next(s for s in range(len(used) + 1) if s not in used)

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
        self.store.mark_running(t.id)
        slot = self._free_slot()
        command = trial.command(str(run_dir), self.spec.trial_setup.trainer, args, self.spec.trial_setup.imports)
        self.jobs[t.id] = (self.executor.submit(command, run_dir, slot), slot)

    def _try_finish(self, t: Trial, job_error: str | None) -> bool:
        """Records the trial from its result.json (or as failed); False if a live process still has it."""
        try:
            with trial_lock.hold(t.run_dir):
                if self.store.get(t.id).status in FINISHED:
                    return True
                try:
                    result = trial_lock.read_result(t.run_dir)
                except ValueError as exc:
                    result, job_error = None, str(exc)
                if result is None:
                    if job_error is None:  # the process died without a word: run it again
                        self.queue.append(t.id)
                        return True
                    self.store.record_result(t.id, FAILED, error=job_error)
                else:
                    losses = {k: v for k, v in (result.get("val_loss") or {}).items() if v is not None}
                    scores = {k: v for k, v in (result.get("scores") or {}).items() if v is not None}
                    self.store.record_result(
                        t.id,
                        result.get("status", FAILED),
                        losses=losses or None,
                        wall_seconds=result.get("wall_seconds"),
                        flops=result.get("flops"),
                        error=result.get("error"),
                        scores=scores or None,
                    )
        except trial_lock.TrialBusy:
            return False
        self._report(self.store.get(t.id))
        return True

    def _report(self, t: Trial) -> None:
        searched = [s for s in self.store.trials() if s.role == SEARCH]
        value = self.spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan
        cost = self.spec.budget.measured_cost(t.flops, t.wall_seconds)
        line = (
            f"trial {t.id} [{t.role} {t.rung}] {t.status}: objective {value:.4f}, cost "
            f"{cost if cost is None else f'{cost:.3g}'} {self.spec.budget.unit}, spent "
            f"{self.spent(searched) / self.spec.budget.amount:.0%} of the budget"
        )
        if t.error:
            line += f"; error: {t.error.splitlines()[0][:200]}"
        self.log(line)


def _short(mixture: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in mixture.items()) + "}"
