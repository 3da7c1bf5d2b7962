"""Replay protocol and metrics: episodes, planning costs, ties, cost-to-best, censoring, speed-ups."""

import numpy as np
import pytest

from admire_jax.bench import metrics
from admire_jax.bench.episode import Trace, run_episode
from admire_jax.bench.policy import Policy, RandomPolicy, argbest, make_random
from admire_jax.bench.regmix import make_regmix
from admire_jax.bench.table import ReplayTask


def _task(n_cheap=40, n_target=8, seed=0, declared=None, cheap_cost_jitter=0.0):
    """Two rungs; the objective is the same smooth function of the weights at both, so cheap runs
    rank the target rows exactly. Target values are all distinct; the best is row n_cheap + 2."""
    rng = np.random.default_rng(seed)
    mix = rng.dirichlet(np.ones(3), n_cheap + n_target)
    value = (mix - np.array([0.6, 0.3, 0.1])) ** 2 @ np.ones(3)
    best = n_cheap + 2
    mix[best] = [0.6, 0.3, 0.1]
    value[best] = 0.0
    cost = np.r_[0.01 * (1 + cheap_cost_jitter * rng.uniform(-1, 1, n_cheap)), np.ones(n_target)]
    fid = np.r_[np.zeros(n_cheap, int), np.ones(n_target, int)]
    return ReplayTask(
        path="synthetic",
        objective="loss",
        maximize=False,
        domains=("a", "b", "c"),
        rungs=("cheap", "target"),
        target="target",
        mixtures_RxD=mix,
        fidelity_of_R=fid,
        cost_R=cost,
        value_R=value,
        row_id_R=np.arange(value.size),
        declared_costs=declared,
        median_costs={"cheap": float(np.median(cost[:n_cheap])), "target": 1.0},
        skipped_nan_rows=0,
    )


def _trace(cost, regret, verified=None):
    k = len(cost)
    return Trace(
        cum_cost_K=np.array(cost, float),
        regret_K=np.array(regret, float),
        recommended_K=np.zeros(k, int),
        verified_K=np.array(verified or [False] * k),
        runs_K=np.arange(1, k + 1),
        picked_S=np.arange(k),
        stop_reason="budget",
    )


def test_cost_to_best_variants_on_a_hand_made_trace():
    trace = _trace([1, 2, 3, 4, 5], [0.5, 0.0, 0.2, 0.0, 0.0], [False, False, False, False, True])
    assert metrics.cost_to_best(trace, "held", budget=10) == metrics.CostToBest(4.0, False)
    assert metrics.cost_to_best(trace, "first_hit", budget=10) == metrics.CostToBest(2.0, False)
    assert metrics.cost_to_best(trace, "held_tol", budget=10, tol=0.2) == metrics.CostToBest(2.0, False)
    assert metrics.cost_to_best(trace, "held_tol", budget=10, tol=0.1) == metrics.CostToBest(4.0, False)
    assert metrics.cost_to_best(trace, "verified", budget=10) == metrics.CostToBest(5.0, False)
    # reached only past the budget: censored at the budget
    assert metrics.cost_to_best(trace, "verified", budget=4.5) == metrics.CostToBest(4.5, True)


def test_never_reached_or_lost_at_the_end_is_censored():
    lost = _trace([1, 2, 3], [0.1, 0.0, 0.3])
    assert metrics.cost_to_best(lost, "held", budget=3) == metrics.CostToBest(3.0, True)
    assert metrics.cost_to_best(lost, "first_hit", budget=3) == metrics.CostToBest(2.0, False)
    with pytest.raises(ValueError, match="unknown cost-to-best variant"):
        metrics.cost_to_best(lost, "best", budget=3)


def test_speedup_ratio_interval_and_censoring_flags():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])
    none = np.zeros(3, bool)
    ratio, (lo, hi), flag = metrics.speedup(a, none, b, none)
    assert ratio == pytest.approx(10.0) and lo <= 10.0 <= hi and flag == "none"
    assert metrics.speedup(a, none, b, np.ones(3, bool))[2] == "lower_bound"  # B never solved
    assert metrics.speedup(a, np.array([False, True, True]), b, none)[2] == "upper_bound"
    # an even count whose middle pair holds one censored run: the median is only a bound
    assert metrics.median_is_censored(np.array([1.0, 5.0]), np.array([False, True]))
    assert not metrics.median_is_censored(np.array([1.0, 2.0, 5.0]), np.array([False, False, True]))
    assert metrics.summarise(np.array([1.0, 2.0, 5.0]), np.array([False, False, True]))[
        "solved_fraction"
    ] == pytest.approx(2 / 3)


def test_regret_curve_is_a_step_function_on_the_grid():
    trace = _trace([1, 2, 4], [0.5, 0.2, 0.0])
    curve = metrics.regret_on_grid(trace, np.array([0.5, 1.0, 1.5, 3.9, 4.0, 100.0]))
    np.testing.assert_array_equal(curve, [np.nan, 0.5, 0.5, 0.2, 0.0, 0.0])
    grid = metrics.cost_grid(0.01, 10.0, points=50)
    assert grid[0] == pytest.approx(0.01) and grid[-1] == pytest.approx(10.0) and grid.size == 50


def test_ties_are_broken_at_random_not_by_position():
    picks = {argbest(np.array([3.0, 1.0, 1.0, 1.0]), False, np.random.default_rng(s)) for s in range(40)}
    assert picks == {1, 2, 3}
    assert argbest(np.array([3.0, 1.0, 5.0]), True, np.random.default_rng(0)) == 2
    assert argbest(np.array([np.nan, 1.0, 2.0]), True, np.random.default_rng(0)) == 2  # NaN never wins
    with pytest.raises(ValueError, match="no finite value"):
        argbest(np.full(3, np.nan), False, np.random.default_rng(0))


def test_random_episode_pays_each_run_and_stops_at_the_budget():
    task = _task()
    trace = run_episode(task, make_random, seed=3, budget=5.0, n_init=2)
    assert trace.stop_reason == "budget"
    assert len(set(trace.picked_S.tolist())) == trace.picked_S.size  # no row twice
    assert np.all(task.fidelity_of_R[trace.picked_S] == 1)  # target rows only
    np.testing.assert_allclose(trace.cum_cost_K, np.cumsum(task.cost_R[trace.picked_S])[trace.runs_K - 1])
    assert trace.runs_K[0] == 2 and trace.cum_cost_K[-1] >= 5.0 and trace.cum_cost_K[-2] < 5.0
    # the recommendation is the best target row seen so far, and it has been run
    for k, runs in enumerate(trace.runs_K):
        seen = trace.picked_S[:runs]
        assert task.value_R[trace.recommended_K[k]] == task.value_R[seen].min()
        assert trace.verified_K[k]
    assert np.all(np.diff(trace.regret_K) <= 0)
    # same seed, same episode; another seed, another order
    again = run_episode(task, make_random, seed=3, budget=5.0, n_init=2)
    np.testing.assert_array_equal(again.picked_S, trace.picked_S)
    assert any(
        not np.array_equal(run_episode(task, make_random, s, 5.0, 2).picked_S, trace.picked_S) for s in range(4, 8)
    )


def test_random_exhausts_the_target_rows_and_always_finds_the_best():
    task = _task()
    trace = run_episode(task, make_random, seed=0, budget=100.0)
    assert trace.stop_reason == "exhausted" and trace.picked_S.size == 8
    assert trace.regret_K[-1] == 0.0
    assert not metrics.cost_to_best(trace, "held", budget=100.0).censored


class _Spy(Policy):
    """Always picks the first available cheap row; records the planning costs it was given."""

    def __init__(self, task, rng):
        super().__init__(task, (0, 1), rng)
        self.seen_costs = []

    def pick(self, available_rows, planning_costs):
        self.seen_costs.append(dict(planning_costs))
        return int(available_rows[0])

    def recommend(self):
        return int(self.task.target_rows[0])


@pytest.mark.parametrize("declared", [None, {"cheap": 0.02, "target": 1.0}])
def test_methods_plan_with_declared_or_running_mean_costs(declared):
    task = _task(declared=declared, cheap_cost_jitter=0.5)
    spies = []

    def make(t, rng):
        spies.append(_Spy(t, rng))
        return spies[-1]

    trace = run_episode(task, make, seed=0, budget=100.0, max_steps=5)
    assert trace.stop_reason == "max_steps" and trace.picked_S.size == 6
    for i, costs in enumerate(spies[0].seen_costs):
        paid = task.cost_R[trace.picked_S[: i + 1]]
        expected = declared["cheap"] if declared else paid.mean()  # never the next row's own cost
        assert costs[0] == pytest.approx(expected)
        assert costs[1] == pytest.approx(1.0)  # target rung not paid yet: its median row cost


def test_regmix_uses_only_cheap_runs_and_finds_the_best_target_row():
    task = _task()
    trace = run_episode(task, make_regmix, seed=1, budget=100.0, n_init=1)
    assert trace.stop_reason == "exhausted"
    assert np.all(task.fidelity_of_R[trace.picked_S] == 0) and trace.picked_S.size == 40
    assert np.all(task.fidelity_of_R[trace.recommended_K] == 1)
    assert trace.regret_K[-1] == 0.0 and not trace.verified_K[-1]
    held = metrics.cost_to_best(trace, "held", budget=100.0)
    assert not held.censored and held.cost <= task.cost_R[:40].sum()
    assert metrics.cost_to_best(trace, "verified", budget=100.0).censored


def test_initial_rows_come_from_the_cheapest_allowed_rung():
    task = _task()
    assert np.all(task.fidelity_of_R[run_episode(task, make_regmix, 0, 0.05, n_init=3).picked_S[:3]] == 0)
    assert isinstance(make_random(task, np.random.default_rng(0)), RandomPolicy)
    with pytest.raises(ValueError, match="n_init"):
        run_episode(task, make_random, 0, 1.0, n_init=9)
