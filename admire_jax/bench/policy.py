"""What a replayed search method is: a policy that picks rows, sees their values, and recommends.

A policy is built fresh for each episode. It never sees a row's value or own cost before it has
picked it; it plans with the per-rung costs the episode hands it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import numpy as np

from admire_jax.bench.table import ReplayTask


def argbest(values: np.ndarray, maximize: bool, rng: np.random.Generator) -> int:
    """Index of the best entry of `values`; ties are broken at random with `rng`, never by position."""
    values = np.asarray(values, np.float64)
    if not np.any(np.isfinite(values)):
        raise ValueError(
            f"no finite value to pick the best of (all {values.size} are NaN/inf): the method's "
            "model failed; for a BO method check its hyperparameter fit"
        )
    best = np.nanmax(values) if maximize else np.nanmin(values)
    tied = np.flatnonzero(values == best)
    return int(tied[0] if tied.size == 1 else rng.choice(tied))


class Policy(abc.ABC):
    """One method during one episode. `allowed_rungs` are rung indices into `task.rungs`."""

    def __init__(self, task: ReplayTask, allowed_rungs: tuple[int, ...], rng: np.random.Generator):
        self.task = task
        self.allowed_rungs = allowed_rungs
        self.rng = rng
        self.observed_rows: list[int] = []

    def observe(self, row: int, value: float, cost: float) -> None:
        """Record the outcome of a run this policy picked (or was given at the start)."""
        self.observed_rows.append(row)

    @abc.abstractmethod
    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        """Choose the next row among `available_rows` (not yet observed, allowed rungs)."""

    @abc.abstractmethod
    def recommend(self) -> int:
        """The target-fidelity row this policy would deploy now."""


class RandomPolicy(Policy):
    """Random rows of the target fidelity; recommends the best target row seen so far."""

    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        return int(self.rng.choice(available_rows))

    def recommend(self) -> int:
        seen = np.array([r for r in self.observed_rows if self.task.fidelity_of_R[r] == self.task.target_index])
        if seen.size == 0:
            return int(self.rng.choice(self.task.target_rows))
        return int(seen[argbest(self.task.value_R[seen], self.task.maximize, self.rng)])


def make_random(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return RandomPolicy(task, (task.target_index,), rng)
