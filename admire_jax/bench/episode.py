"""One replay episode: a policy picks rows, pays their cost, sees their value, and recommends.

The protocol: `n_init` random rows of the cheapest rung the method may use, then one row per step
until the cumulative cost reaches the budget (the last run may overshoot it; anything reached past
the budget does not count), the method has no row left to pick, or `max_steps` is reached. After
the start and after every step, the policy recommends one target row and its regret is recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from admire_jax.bench.policy import Policy
from admire_jax.bench.table import ReplayTask

PolicyFactory = Callable[[ReplayTask, np.random.Generator], Policy]


@dataclasses.dataclass(frozen=True)
class Trace:
    """An episode, one entry per recommendation (index 0: after the initial rows).

    `picked_S` lists every run in order (initial rows first); `steps_of_K[k]` is how many runs had
    been paid when recommendation k was made.
    """

    cum_cost_K: np.ndarray
    regret_K: np.ndarray
    recommended_K: np.ndarray
    verified_K: np.ndarray  # the recommended row had itself been run by then
    runs_K: np.ndarray
    picked_S: np.ndarray
    stop_reason: str  # "budget" | "exhausted" | "max_steps"


class PlanningCosts:
    """The cost a method may plan with per rung: declared costs, or the mean of costs paid so far.

    Before a rung has been paid for, the running-mean model uses the rung's median row cost in the
    table (the same statistic that orders the rungs), never the cost of a particular row.
    """

    def __init__(self, task: ReplayTask):
        self._declared = task.declared_costs
        self._prior = [task.median_costs[r] for r in task.rungs]
        self._rungs = task.rungs
        self._paid_sum = np.zeros(len(task.rungs))
        self._paid_count = np.zeros(len(task.rungs))

    def pay(self, rung: int, cost: float) -> None:
        self._paid_sum[rung] += cost
        self._paid_count[rung] += 1

    def current(self) -> dict[int, float]:
        if self._declared is not None:
            return {i: self._declared[label] for i, label in enumerate(self._rungs)}
        return {
            i: float(self._paid_sum[i] / self._paid_count[i]) if self._paid_count[i] else self._prior[i]
            for i in range(len(self._rungs))
        }


def run_episode(
    task: ReplayTask,
    make_policy: PolicyFactory,
    seed: int,
    budget: float,
    n_init: int = 1,
    max_steps: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Trace:
    """Replay one episode of the method `make_policy` with `seed`; see the module docstring."""
    rng = np.random.default_rng(seed)
    policy = make_policy(task, rng)
    allowed_R = np.isin(task.fidelity_of_R, policy.allowed_rungs)
    first_rung_rows = np.flatnonzero(task.fidelity_of_R == min(policy.allowed_rungs))
    if n_init < 1 or n_init > first_rung_rows.size:
        raise ValueError(
            f"n_init={n_init} must be between 1 and the {first_rung_rows.size} rows of rung "
            f"{task.rungs[min(policy.allowed_rungs)]!r}"
        )
    costs = PlanningCosts(task)
    observed_R = np.zeros(task.value_R.size, bool)
    picked: list[int] = []
    cum_cost = 0.0
    trace: dict[str, list] = {"cost": [], "regret": [], "rec": [], "verified": [], "runs": []}

    def run(row: int) -> None:
        nonlocal cum_cost
        observed_R[row] = True
        picked.append(row)
        cum_cost += float(task.cost_R[row])
        costs.pay(int(task.fidelity_of_R[row]), float(task.cost_R[row]))
        policy.observe(row, float(task.value_R[row]), float(task.cost_R[row]))

    def record() -> None:
        rec = policy.recommend()
        if task.fidelity_of_R[rec] != task.target_index:
            raise RuntimeError(f"{type(policy).__name__} recommended row {rec}, which is not a target row")
        trace["cost"].append(cum_cost)
        trace["regret"].append(task.regret(rec))
        trace["rec"].append(rec)
        trace["verified"].append(bool(observed_R[rec]))
        trace["runs"].append(len(picked))
        if on_step is not None:
            on_step(len(picked), cum_cost)

    for row in rng.choice(first_rung_rows, size=n_init, replace=False):
        run(int(row))
    record()
    stop_reason = "budget"
    while cum_cost < budget:
        available = np.flatnonzero(allowed_R & ~observed_R)
        if available.size == 0:
            stop_reason = "exhausted"
            break
        if max_steps is not None and len(picked) - n_init >= max_steps:
            stop_reason = "max_steps"
            break
        row = policy.pick(available, costs.current())
        if not allowed_R[row] or observed_R[row]:
            raise RuntimeError(f"{type(policy).__name__} picked row {row}, which is not available")
        run(row)
        record()
    return Trace(
        cum_cost_K=np.array(trace["cost"]),
        regret_K=np.array(trace["regret"]),
        recommended_K=np.array(trace["rec"], np.int64),
        verified_K=np.array(trace["verified"]),
        runs_K=np.array(trace["runs"], np.int64),
        picked_S=np.array(picked, np.int64),
        stop_reason=stop_reason,
    )
