"""BO methods for the replay, driven by the project's engine `admire_jax.bo.Optimizer` in pool mode.

`mfbo` may run any rung and plans with the per-rung costs; `bo` runs the target rung only. Both
pick by the Optimizer's acquisition over the rows not yet run, and recommend the target row with
the best posterior mean over all target rows (seen or not), ties broken at random.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from admire_jax.bench.policy import Policy, argbest
from admire_jax.bench.table import ReplayTask
from admire_jax.bo import Optimizer, Pool


class BOPolicy(Policy):
    """One Optimizer per episode, seeded from the episode's generator."""

    def __init__(self, task: ReplayTask, rng: np.random.Generator, allowed_rungs: tuple[int, ...],
                 **optimizer_kwargs):
        super().__init__(task, allowed_rungs, rng)
        prior_costs = task.declared_costs or task.median_costs
        self.labels = [task.rungs[i] for i in allowed_rungs]
        self.optimizer = Optimizer(
            domains=list(task.domains), fidelities={label: prior_costs[label] for label in self.labels},
            target=task.target, maximize=task.maximize, seed=int(rng.integers(2**31 - 1)), **optimizer_kwargs)

    def observe(self, row: int, value: float, cost: float) -> None:
        super().observe(row, value, cost)
        self.optimizer.tell(self.task.mixtures_RxD[row], self.task.rungs[self.task.fidelity_of_R[row]], value,
                            cost=cost)

    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        pool = Pool(mixtures=self.task.mixtures_RxD[available_rows],
                    fidelities=[self.task.rungs[i] for i in self.task.fidelity_of_R[available_rows]])
        (proposal,) = self.optimizer.ask(1, pool=pool)
        return int(available_rows[proposal.index])

    def recommend(self) -> int:
        targets = self.task.target_rows
        mean_T, _ = self.optimizer.predict(self.task.mixtures_RxD[targets], self.task.target)
        return int(targets[argbest(np.asarray(mean_T), self.task.maximize, self.rng)])


def make_mfbo(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return BOPolicy(task, rng, tuple(range(len(task.rungs))))


def make_bo(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return BOPolicy(task, rng, (task.target_index,))


def make_mfbo_nuts(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return BOPolicy(task, rng, tuple(range(len(task.rungs))), fit="nuts")


FACTORIES = {"mfbo": make_mfbo, "bo": make_bo, "mfbo-nuts": make_mfbo_nuts}
