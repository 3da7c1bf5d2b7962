"""BO methods for the replay, driven by the project's engine `admire_jax.bo.Optimizer` in pool mode.

`mfbo` may run any rung and plans with the per-rung costs; `bo` runs the target rung only. Both
pick by the Optimizer's acquisition over the rows not yet run (or, with `BOPolicyConfig.pool_size`,
over a fresh random subset of at most `pool_size` of them per rung each step, which bounds the cost of the
acquisition on large tables; see `stratified_pool`), and recommend the target row with the best
posterior mean over all target rows (seen or not), ties broken at random. With per-row costs the
Optimizer plans with the running mean cost of each rung. The Optimizer's own refit policy refits on
each of a rung's first rows (`OptimizerConfig.new_rung_refits`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import gin
import numpy as np

from admire_jax.bench.policy import Policy, argbest
from admire_jax.bench.table import ReplayTask
from admire_jax.bo import Optimizer, OptimizerConfig, Pool
from admire_jax.bo.config import default_config, describe


def stratified_pool(
    available_rows: np.ndarray, rung_of_R: np.ndarray, pool_size: int | None, rng: np.random.Generator
) -> np.ndarray:
    """The rows the acquisition scores this step: from each rung, all of its `available_rows` or, if
    it has more than `pool_size`, a random `pool_size` of them (sorted; None = every available row).

    Why per rung: a single random subset over all rungs represents each rung by its share of the
    rows, and cheap rungs hold most rows (with twelve cheap rows per target row, a pool of 64 holds ~5
    random target rows). Whenever the acquisition judged a target run worth its cost, it could
    only choose among those few, and the best target row was rarely a candidate; single-fidelity BO,
    whose pool is the target rung alone, had no such handicap."""
    if pool_size is None:
        return available_rows
    if pool_size < 1:
        raise ValueError(f"pool_size must be >= 1 or None, got {pool_size}")
    rung_A = rung_of_R[available_rows]
    parts = []
    for rung in np.unique(rung_A):
        rows = available_rows[rung_A == rung]
        parts.append(rng.choice(rows, pool_size, replace=False) if rows.size > pool_size else rows)
    return np.sort(np.concatenate(parts))


class RunningMeanCost:
    """Cost model: the mean of the costs paid so far on a rung; its declared (prior) cost before."""

    def __call__(self, declared: Mapping[str, float], measured: Mapping[str, Sequence[float]]) -> dict[str, float]:
        return {k: float(np.mean(measured[k])) if measured.get(k) else float(c) for k, c in declared.items()}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class BOPolicyConfig:
    """What the replay's BO methods run with: the Optimizer's config and `pool_size`, the unseen
    rows of each rung scored per step (see `stratified_pool`; None = all). Built once where the
    replay reads its configuration and handed to every episode."""

    pool_size: int | None = None
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    def __post_init__(self):
        if self.pool_size is not None and (
            isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int) or self.pool_size < 1
        ):
            raise ValueError(f"pool_size must be an integer >= 1 or None, got {self.pool_size!r}")

    def describe(self) -> dict:
        """JSON-able content (what fixes a BO episode besides the task and seed)."""
        return {"pool_size": self.pool_size, "optimizer": describe(self.optimizer)}


class BOPolicy(Policy):
    """One Optimizer per episode, seeded from the episode's generator, configured by `config`."""

    def __init__(
        self, task: ReplayTask, rng: np.random.Generator, allowed_rungs: tuple[int, ...], config: BOPolicyConfig
    ):
        super().__init__(task, allowed_rungs, rng)
        self.pool_size = config.pool_size
        prior_costs = task.declared_costs or task.median_costs
        labels = [task.rungs[i] for i in allowed_rungs]
        self.optimizer = Optimizer(
            domains=list(task.domains),
            fidelities={label: prior_costs[label] for label in labels},
            target=task.target,
            maximize=task.maximize,
            seed=int(rng.integers(2**31 - 1)),
            cost_model=None if task.declared_costs else RunningMeanCost(),
            config=config.optimizer,
        )

    def observe(self, row: int, value: float, cost: float) -> None:
        super().observe(row, value, cost)
        label = self.task.rungs[self.task.fidelity_of_R[row]]
        self.optimizer.tell(self.task.mixtures_RxD[row], label, value, cost=cost)

    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        available_rows = stratified_pool(available_rows, self.task.fidelity_of_R, self.pool_size, self.rng)
        pool = Pool(
            mixtures=self.task.mixtures_RxD[available_rows],
            fidelities=[self.task.rungs[i] for i in self.task.fidelity_of_R[available_rows]],
        )
        (proposal,) = self.optimizer.ask(1, pool=pool)
        return int(available_rows[proposal.index])

    def recommend(self) -> int:
        targets = self.task.target_rows
        mean_T, _ = self.optimizer.predict(self.task.mixtures_RxD[targets], self.task.target)
        return int(targets[argbest(np.asarray(mean_T), self.task.maximize, self.rng)])


def _or_default(config: BOPolicyConfig | None) -> BOPolicyConfig:
    return default_config(BOPolicyConfig) if config is None else config


def make_mfbo(task: ReplayTask, rng: np.random.Generator, config: BOPolicyConfig | None = None) -> Policy:
    """BO over every rung (config None: `BOPolicyConfig`'s defaults)."""
    return BOPolicy(task, rng, tuple(range(len(task.rungs))), _or_default(config))


def make_bo(task: ReplayTask, rng: np.random.Generator, config: BOPolicyConfig | None = None) -> Policy:
    """BO at the target rung only."""
    return BOPolicy(task, rng, (task.target_index,), _or_default(config))


def make_mfbo_nuts(task: ReplayTask, rng: np.random.Generator, config: BOPolicyConfig | None = None) -> Policy:
    """`make_mfbo` with hyperparameters sampled by NUTS."""
    config = _or_default(config)
    nuts = dataclasses.replace(config, optimizer=dataclasses.replace(config.optimizer, fit="nuts"))
    return BOPolicy(task, rng, tuple(range(len(task.rungs))), nuts)


FACTORIES = {"mfbo": make_mfbo, "bo": make_bo, "mfbo-nuts": make_mfbo_nuts}
