"""The BO methods of the replay drive admire_jax.bo.Optimizer in pool mode (tiny table, few steps)."""

import json

import jax
import numpy as np
import pandas as pd
import pytest

from admire_jax import gin_cli
from admire_jax.bench import cli
from admire_jax.bench.bo_policy import BOPolicy, BOPolicyConfig, RunningMeanCost, make_bo, make_mfbo, stratified_pool
from admire_jax.bench.episode import run_episode
from admire_jax.bench.table import TableSpec, load_tasks
from admire_jax.bo import NutsFitConfig, OptimizerConfig


def test_running_mean_cost_uses_paid_costs_then_the_prior():
    model = RunningMeanCost()
    assert model({"a": 0.01, "b": 1.0}, {"a": [0.02, 0.04], "b": []}) == {"a": pytest.approx(0.03), "b": 1.0}


def test_the_pool_holds_up_to_pool_size_rows_of_every_rung():
    """A rung with few rows is fully represented however many rows the cheap rungs hold; a
    single subset over all rows would hold ~1 of its 4 rows."""
    rung_of_R = np.repeat([0, 1, 2], [300, 30, 4])
    available = np.flatnonzero(np.arange(rung_of_R.size) % 7 != 3)  # some rows already run
    rng = np.random.default_rng(0)
    seen_cheap = set()
    for _ in range(20):
        pool = stratified_pool(available, rung_of_R, 8, rng)
        assert np.all(np.diff(pool) > 0) and np.all(np.isin(pool, available))
        assert np.bincount(rung_of_R[pool], minlength=3).tolist() == [8, 8, 3]  # rung 2: 3 rows left
        assert set(available[rung_of_R[available] == 2]) <= set(pool.tolist())  # every target row
        seen_cheap |= set(pool[rung_of_R[pool] == 0].tolist())
    assert len(seen_cheap) > 8 * 5  # a fresh random subset of the big rung each step
    assert np.array_equal(stratified_pool(available, rung_of_R, None, rng), available)
    with pytest.raises(ValueError, match="pool_size"):
        stratified_pool(available, rung_of_R, 0, rng)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for label, cost, n in (("tiny", 0.01, 12), ("full", 1.0, 5)):
        for _ in range(n):
            w = rng.dirichlet(np.ones(3))
            rows.append(
                {
                    "fid": label,
                    "cost": cost * (1 + 0.3 * rng.uniform()),
                    "w:a": w[0],
                    "w:b": w[1],
                    "w:c": w[2],
                    "score": float(w[0] - (w[1] - 0.3) ** 2),
                }
            )
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_mfbo_and_bo_episodes_follow_the_protocol(table, tmp_path):
    (task,) = load_tasks(str(table), TableSpec("w:", "fid", ("score",), "full", maximize=True, cost_col="cost"))
    policies = []

    def spy(make):
        def factory(t, rng):
            policies.append(make(t, rng))
            return policies[-1]

        return factory

    mf = run_episode(task, spy(make_mfbo), seed=0, budget=10.0, n_init=2, max_steps=3)
    assert mf.stop_reason == "max_steps" and mf.picked_S.size == 5
    assert np.all(task.fidelity_of_R[mf.picked_S[:2]] == 0)  # start at the cheapest rung
    assert np.all(task.fidelity_of_R[mf.recommended_K] == task.target_index)
    opt = policies[0].optimizer
    assert [o["cost"] for o in opt.observations] == pytest.approx(task.cost_R[mf.picked_S].tolist())
    assert isinstance(opt.cost_model, RunningMeanCost)  # per-row costs: running mean

    single = run_episode(task, spy(make_bo), seed=0, budget=2.5, n_init=1)
    assert np.all(task.fidelity_of_R[single.picked_S] == task.target_index)
    assert single.stop_reason == "budget" and len(set(single.picked_S.tolist())) == single.picked_S.size
    assert list(policies[1].optimizer.costs) == ["full"]

    # the BO recommendation is the best posterior mean over all target rows
    mean_T, _ = policies[1].optimizer.predict(task.mixtures_RxD[task.target_rows], "full")
    assert single.recommended_K[-1] == task.target_rows[int(np.argmax(mean_T))]

    # CLI: BO methods configured by gin, with a random subset of the unseen rows scored each step
    out = tmp_path / "out"
    argv = [
        "--table",
        str(table),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "fid",
        "--objective",
        "score",
        "--maximize",
        "--cost_col",
        "cost",
        "--target_fidelity",
        "full",
        "--methods",
        "mfbo,bo",
        "--seeds",
        "1",
        "--budget",
        "2.5",
        "--max_steps",
        "mfbo=3",
        "--gin.BOPolicyConfig.pool_size=4",
        "--out",
        str(out),
        "--no_progress",
    ]
    assert cli.main(argv) == 0
    import gin

    assert "pool_size" not in gin.config_str()  # the replay's bindings do not leak into the process
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"mfbo", "bo"} and "mfbo/bo" in summary["speedup"]
    assert summary["methods"]["mfbo"]["fidelity_counts"]["tiny"] >= 1
    assert summary["methods"]["bo"]["fidelity_counts"]["tiny"] == 0


@pytest.mark.slow
def test_mfbo_nuts_averages_over_hyperparameter_samples(table):
    from admire_jax.bench.bo_policy import make_mfbo_nuts

    (task,) = load_tasks(str(table), TableSpec("w:", "fid", ("score",), "full", maximize=True, cost_col="cost"))
    policies = []

    nuts = NutsFitConfig(num_warmup=20, num_samples=20, num_hyper_samples=4)
    config = BOPolicyConfig(optimizer=OptimizerConfig(model="ar1", nuts_fit=nuts))  # one model: one NUTS compile

    def factory(t, rng):
        policies.append(make_mfbo_nuts(t, rng, config))
        return policies[-1]

    trace = run_episode(task, factory, seed=0, budget=10.0, n_init=2, max_steps=1)
    assert trace.picked_S.size == 3 and np.all(task.fidelity_of_R[trace.recommended_K] == task.target_index)
    assert policies[0].optimizer.config.fit == "nuts"
    params = policies[0].optimizer.hyperparameters()
    assert jax.tree_util.tree_leaves(params)[0].shape[0] == 4  # four posterior samples, not one MAP point


def test_the_replay_config_sets_the_engines_new_rung_refits(table):
    """The replay's BO methods get the new-rung refit from the engine's own refit policy, set in
    configs/replay/bo_fast.gin (the engine's behaviour is tested in tests/bo/test_refit_schedule.py)."""

    (task,) = load_tasks(str(table), TableSpec("w:", "fid", ("score",), "full", maximize=True, cost_col="cost"))
    rows = []
    for bindings in ([], ["--gin.NEW_RUNG_REFITS=1"]):
        args, parsed = gin_cli.parse_args(
            gin_cli.parser("test", ""), ["--gin_file=configs/replay/bo_fast.gin", *bindings]
        )
        replay = make_mfbo(task, np.random.default_rng(0), cli.bo_config(args, parsed)).optimizer
        rows.append(replay.config.new_rung_refits)
    assert rows == [3, 1]
    assert replay.config.refit_growth == 0.05  # refits are spaced out, so the rule matters


def test_mfbo_scores_every_target_row_when_the_cheap_rung_fills_the_pool(table):
    (task,) = load_tasks(str(table), TableSpec("w:", "fid", ("score",), "full", maximize=True, cost_col="cost"))
    policy = BOPolicy(task, np.random.default_rng(0), (0, 1), BOPolicyConfig(pool_size=5))
    scored = []

    class Spy:
        def ask(self, n, pool):
            scored.append(list(pool.fidelities))
            return [type("P", (), {"index": 0})()]

    policy.optimizer = Spy()
    policy.pick(np.arange(task.value_R.size), {0: 0.01, 1: 1.0})
    assert sorted(scored[0]) == ["full"] * 5 + ["tiny"] * 5  # 12 tiny rows, 5 full: all 5 full ones
