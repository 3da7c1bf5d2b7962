"""How an experiment is getting on: its running trials, how busy its slots were, and an ETA.

Read from the store alone (`admire-jax status` runs beside the controller, or after it): the trial
times are the measured ones of finished trials, per rung, so the estimate improves as trials end.
"""

from __future__ import annotations

import math
from typing import Sequence

from admire_jax.experiment import invocations
from admire_jax.experiment.controller import Controller
from admire_jax.experiment.store import OK, SEARCH, Trial


def mean_trial_seconds(trials: Sequence[Trial]) -> dict[str, float]:
    """Per rung, the mean time its successful trials held a slot (launch to record, by the
    controller's clock: what the schedule is made of)."""
    seconds: dict[str, list[float]] = {}
    for t in trials:
        if t.status == OK and t.started is not None and t.finished is not None:
            seconds.setdefault(t.rung, []).append(t.finished - t.started)
    return {rung: sum(v) / len(v) for rung, v in seconds.items()}


def utilisation(trials: Sequence[Trial], slots: int, now: float) -> float | None:
    """The share of slot time that trials ran, from the first launch until the last finish (or now,
    while trials run); None before any launch."""
    starts = [t.started for t in trials if t.started is not None]
    if not starts:
        return None
    running = [t for t in trials if t.started is not None and not t.is_finished]
    end = now if running else max(t.finished for t in trials if t.finished is not None)
    busy = sum(t.finished - t.started for t in trials if t.started is not None and t.finished is not None)
    busy += sum(now - t.started for t in running)
    span = max(end - min(starts), 1e-9)
    return min(1.0, busy / (slots * span))


def eta_seconds(controller: Controller, trials: Sequence[Trial], now: float) -> float | None:
    """Seconds until the search has spent its budget and the check has run, from the measured
    trial times: the running trials' remaining time, the budget not yet committed turned into
    trial time at the measured cost per slot second, and the check trials not yet added, spread
    over the slots. None before a search trial has ended."""
    seconds = mean_trial_seconds(trials)
    searched = [t for t in trials if t.role == SEARCH and t.status == OK and t.finished is not None]
    cost = sum(controller.spent([t]) for t in searched)
    wall = sum(t.finished - t.started for t in searched)
    if not searched or cost <= 0 or wall <= 0:
        return None
    spec = controller.spec
    remaining = [
        max(0.0, seconds.get(t.rung, 0.0) - (now - t.started))
        for t in trials
        if t.started is not None and not t.is_finished
    ]
    uncommitted = max(0.0, spec.budget.amount - controller.committed(trials)) * wall / cost
    checks = 2 * spec.confirmation.check_seeds - sum(t.role != SEARCH for t in trials)
    target = seconds.get(spec.target_rung, 0.0)
    return (sum(remaining) + uncommitted + max(0, checks) * target) / controller.executor.slots


def progress_text(controller: Controller, now: float) -> str:
    """The running trials, the slot utilisation and the ETA, as lines for `admire-jax status`."""
    trials = controller.store.trials()
    seconds = mean_trial_seconds(trials)
    running = [t for t in trials if t.started is not None and not t.is_finished]
    lines = [f"running: {len(running)} of {controller.executor.slots} slots"]
    for t in running:
        expected = seconds.get(t.rung)
        lines.append(
            f"  trial {t.id} [{t.role} {t.rung}] on slot {t.slot}: {now - t.started:.0f} s"
            + ("" if expected is None else f" of about {expected:.0f} s")
            + (f" (start {starts + 1})" if (starts := len(invocations.earlier(t.run_dir))) else "")
        )
    used = utilisation(trials, controller.executor.slots, now)
    lines.append("slot utilisation: " + ("n/a" if used is None else f"{used:.0%}"))
    eta = eta_seconds(controller, trials, now)
    lines.append(
        "ETA: unknown until a search trial has finished"
        if eta is None or not math.isfinite(eta)
        else f"ETA: about {_duration(eta)} (from the measured trial times)"
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
