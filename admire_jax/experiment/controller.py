"""The experiment loop: keep the executor's slots busy with proposed trials until the budget is spent.

Asynchronous: whenever slots are free, one ask proposes trials for all of them, told the finished
search trials and fantasising the unfinished ones as pending, so a slot freed by a cheap proxy
gets new work while a target-rung trial still runs, and trials of different rungs run side by
side (`Runtime.max_running` caps a rung). A trial's expected cost is committed when it is
proposed, so the search overshoots its budget by at most one trial. Each proposal is a function
of its record in the store (the finished and pending trials, the experiment seed, its trial id;
see proposals.py), never of a count that depends on timing. The confirmation phase starts once
the search trials it ranks have finished; the uniform half of the check needs nothing and fills
slots the search leaves idle. How trials run, restart and are recorded: runner.py.
"""

from __future__ import annotations

import math
from typing import Sequence

from admire_jax.experiment import proposals
from admire_jax.experiment.runner import TrialRunner
from admire_jax.experiment.store import OK, SEARCH, Trial

CHECK_ROLES = ("recommended", "uniform")


class Controller(TrialRunner):
    """Runs one experiment in `exp_dir` to the end of its budget (resuming whatever is there)."""

    _capped: tuple | None = None  # the state of the last ask that a rung cap cut short

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
        running = self._running_per_rung(self.store.trials()).get(self.spec.target_rung, 0)
        room = min(self._free_slots(), self._cap(self.spec.target_rung) - running)
        if room >= 1 and self.spec.confirmation.check_seeds:
            uniform = {d: 1.0 / len(self.spec.domains) for d in self.spec.domains}
            self._add_checks("uniform", uniform, self.spec.confirmation.check_seeds, limit=int(room))

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


def _short(mixture: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in mixture.items()) + "}"
