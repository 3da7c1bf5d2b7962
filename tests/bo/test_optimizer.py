"""The ask/tell Optimizer: bad input, failed runs, bounds, batches, pool mode, JSON round trip."""

import json
import math

import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig, Pool
from admire_jax.bo.config import MapFitConfig

DOMAINS = ["a", "b", "c"]
RUNGS = {"small": 0.01, "big": 1.0}
FAST = dict(raw_samples=64, num_restarts=2, refine_steps=10)


def objective(w, fidelity):
    return float(np.sum((w - np.array([0.6, 0.3, 0.1])) ** 2) + (0.05 if fidelity == "small" else 0.0))


def _optimizer(n=6, seed=0, bounds=None, **knobs):
    opt = Optimizer(DOMAINS, RUNGS, target="big", seed=seed, bounds=bounds, config=OptimizerConfig(**{**FAST, **knobs}))
    rng = np.random.default_rng(seed)
    for i in range(n):
        w = rng.dirichlet(np.ones(3))
        fid = "small" if i % 2 else "big"
        opt.tell(w, fid, objective(w, fid), cost=RUNGS[fid])
    return opt


def test_bad_input_raises_clear_errors():
    opt = Optimizer(DOMAINS, RUNGS, target="big")
    with pytest.raises(ValueError, match="non-negative"):
        opt.tell([-0.1, 0.6, 0.5], "big", 1.0)
    with pytest.raises(ValueError, match="finite"):
        opt.tell([np.nan, 0.5, 0.5], "big", 1.0)
    with pytest.raises(ValueError, match="sum to 0.9"):
        opt.tell([0.3, 0.3, 0.3], "big", 1.0)
    with pytest.raises(ValueError, match="expected 3 weights"):
        opt.tell([0.5, 0.5], "big", 1.0)
    with pytest.raises(ValueError, match="unknown fidelity 'huge'"):
        opt.tell([0.2, 0.3, 0.5], "huge", 1.0)
    with pytest.raises(ValueError, match="pool mixture row 1"):
        opt.ask(pool=Pool(np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]), ["big", "big"]))
    with pytest.raises(ValueError, match="target 'x' is not one of"):
        Optimizer(DOMAINS, RUNGS, target="x")
    with pytest.raises(ValueError, match="most expensive"):
        Optimizer(DOMAINS, RUNGS, target="small")
    with pytest.raises(ValueError, match="bounds leave no mixture"):
        Optimizer(DOMAINS, RUNGS, target="big", bounds={"a": (0.6, 1.0), "b": (0.6, 1.0)})
    with pytest.raises(ValueError, match="no successful observations"):
        opt.recommend()
    opt.tell([0.2, 0.3, 0.5 + 5e-4], "big", 1.0)  # within 1e-3: renormalised
    assert sum(opt.observations[-1]["mixture"]) == pytest.approx(1.0, abs=1e-15)


def test_failed_runs_are_recorded_but_not_modelled_and_first_ask_is_random():
    opt = Optimizer(DOMAINS, RUNGS, target="big", config=OptimizerConfig(**FAST))
    first = opt.ask()[0]
    assert first.fidelity == "small" and first.mixture.sum() == pytest.approx(1.0)
    opt.tell(first.mixture, first.fidelity, float("nan"))
    opt.tell([0.2, 0.3, 0.5], "big", float("inf"))
    assert [o["failed"] for o in opt.observations] == [True, True]
    opt.tell([0.5, 0.3, 0.2], "big", 0.7)  # a single observation works
    rec = opt.recommend(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    assert rec.index in (0, 1) and math.isfinite(rec.mean) and math.isfinite(rec.std)
    assert opt.ask()[0].mixture.sum() == pytest.approx(1.0)


def test_constant_objective_and_duplicates_work():
    opt = Optimizer(DOMAINS, RUNGS, target="big", config=OptimizerConfig(**FAST))
    for _ in range(3):
        opt.tell([0.2, 0.3, 0.5], "big", 2.0)
        opt.tell([0.6, 0.2, 0.2], "small", 2.0)
    mean, std = opt.predict(np.array([[0.2, 0.3, 0.5]]), "big")
    assert mean[0] == pytest.approx(2.0, abs=1e-6) and np.isfinite(std[0])
    p = opt.ask()[0]
    assert np.all(np.isfinite(p.mixture)) and p.mixture.sum() == pytest.approx(1.0)


def test_proposals_respect_bounds_and_batches_are_distinct():
    bounds = {"a": (0.1, 0.3), "c": (0.05, 0.2)}
    opt = _optimizer(bounds=bounds)
    props = opt.ask(3)
    lo, hi = np.array([0.1, 0.0, 0.05]), np.array([0.3, 1.0, 0.2])
    for p in props:
        assert p.mixture.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(p.mixture >= lo - 1e-12) and np.all(p.mixture <= hi + 1e-12)
    assert len(opt.pending) == 3
    assert min(np.abs(props[i].mixture - props[j].mixture).max() for i in range(3) for j in range(i)) > 1e-3
    rec = opt.recommend()
    assert np.all(rec.mixture >= lo - 1e-12) and np.all(rec.mixture <= hi + 1e-12)
    opt.tell(props[0].mixture, props[0].fidelity, objective(props[0].mixture, props[0].fidelity))
    assert len(opt.pending) == 2


def test_pool_mode_picks_rows_and_recommends_by_posterior_mean():
    opt = _optimizer(n=8)
    rng = np.random.default_rng(5)
    W = rng.dirichlet(np.ones(3), 12)
    W[3] = [0.6, 0.3, 0.1]  # the optimum itself
    labels = ["small"] * 6 + ["big"] * 6
    props = opt.ask(2, pool=Pool(W, labels))
    assert props[0].index != props[1].index
    for p in props:
        np.testing.assert_allclose(p.mixture, W[p.index], rtol=1e-12)
        assert p.fidelity == labels[p.index]
    rec = opt.recommend(W)
    mean, _ = opt.predict(W, "big")
    assert rec.index == int(np.argmin(mean))


def _same_proposal(a, b):
    np.testing.assert_array_equal(a.mixture, b.mixture)
    assert a.fidelity == b.fidelity and a.acquisition == b.acquisition


def test_a_reloaded_optimizer_proposes_what_one_freshly_told_its_history_does(tmp_path):
    """The saved state is what was told; fitted hyperparameters are a cache and are not saved.
    With refits spaced out, the optimizer that lived through the history holds hyperparameters
    fitted on part of it; the reloaded one fits as a fresh one told the whole history does."""
    rng = np.random.default_rng(4)
    history = [
        (w, fid, objective(w, fid), RUNGS[fid])
        for w, fid in ((rng.dirichlet(np.ones(3)), ["small", "big"][i % 2]) for i in range(9))
    ]
    history.append(([0.3, 0.3, 0.4], "small", float("nan"), None))
    config = OptimizerConfig(refit_every=4, new_rung_refits=0, **FAST)
    lived, fresh = (Optimizer(DOMAINS, RUNGS, target="big", seed=1, config=config) for _ in range(2))
    for i, (w, fid, value, cost) in enumerate(history):
        lived.tell(w, fid, value, cost=cost)
        if i >= 1:
            lived.predict(np.full((1, 3), 1 / 3), "big")  # fits now and then, as the policy says
    path = tmp_path / "state.json"
    lived.save(str(path))
    loaded = Optimizer.load(str(path))
    assert loaded.state_dict() == lived.state_dict() and "fitted" not in json.loads(path.read_text())
    for w, fid, value, cost in history:
        fresh.tell(w, fid, value, cost=cost)
    _same_proposal(loaded.ask()[0], fresh.ask()[0])
    assert loaded.recommend().mixture.tolist() == fresh.recommend().mixture.tolist()
    assert lived.num_fits > 1 and loaded.num_fits == fresh.num_fits == 1


def test_pending_points_and_asks_survive_a_reload(tmp_path):
    opt = _optimizer()
    opt.ask()  # leaves a pending point
    path = tmp_path / "state.json"
    opt.save(str(path))
    loaded = Optimizer.load(str(path))
    assert loaded.pending == opt.pending and loaded.num_asks == 1
    _same_proposal(loaded.ask()[0], Optimizer.load(str(path)).ask()[0])


def test_target_only_acquisitions_pick_target_rows():
    opt = _optimizer(acquisition="logei")
    W = np.random.default_rng(2).dirichlet(np.ones(3), 8)
    labels = ["small"] * 4 + ["big"] * 4
    props = opt.ask(2, pool=Pool(W, labels))
    assert all(p.fidelity == "big" and p.index >= 4 for p in props)
    with pytest.raises(ValueError, match="needs target-rung rows"):
        opt.ask(pool=Pool(W[:4], labels[:4]))


@pytest.mark.parametrize("acquisition", ["ucb", "mes"])
def test_ucb_and_mes_drive_full_ask_tell_steps(acquisition):
    opt = _optimizer(n=8, acquisition=acquisition)
    rng = np.random.default_rng(3)
    W = rng.dirichlet(np.ones(3), 10)
    labels = ["small"] * 4 + ["big"] * 6
    for _ in range(2):
        (p,) = opt.ask(pool=Pool(W, labels))
        assert p.fidelity == "big" and p.index >= 4 and math.isfinite(p.acquisition)
        if acquisition == "ucb":  # UCB = mean + 2 std of the maximised (negated) objective
            mean, std = opt.predict(W[4:], "big")
            assert p.index == 4 + int(np.argmax(-mean + 2.0 * std))
        else:
            assert p.acquisition > 0.0  # information about the target maximum
        opt.tell(p.mixture, p.fidelity, objective(p.mixture, p.fidelity))
    assert not opt.pending and len(opt.observations) == 10


def test_the_initial_design_sketches_the_cheapest_rung_for_about_one_target_run():
    rungs = {"xs": 1.0, "m": 3.0, "xl": 6.0}
    one_run = OptimizerConfig(initial_design_cost=1.0)
    opt = Optimizer(
        ["a", "b", "c", "d"], rungs, target="xl", seed=3, config=OptimizerConfig(**FAST, initial_design_cost=1.0)
    )
    assert opt.initial_runs() == 5  # 6 runs would cost one target run; a 4-weight sketch needs 5
    assert Optimizer(DOMAINS, rungs, target="xl", config=one_run).initial_runs() == 4  # D + 1 = 4 below 6
    assert Optimizer(["a", "b", "c", "d"], {"xs": 2.0, "xl": 5.0}, target="xl", config=one_run).initial_runs() == 2
    assert Optimizer(DOMAINS, rungs, target="xl").initial_runs() == 1  # the default: one random run
    assert Optimizer(DOMAINS, {"xl": 6.0}, target="xl", config=one_run).initial_runs() == 1  # one rung
    mes = OptimizerConfig(acquisition="mes", initial_design_cost=1.0)
    assert Optimizer(DOMAINS, rungs, target="xl", config=mes).initial_runs() == 1  # target-only acquisition
    for _ in range(5):
        (p,) = opt.ask()
        assert p.fidelity == "xs" and math.isnan(p.acquisition)
        opt.tell(p.mixture, p.fidelity, float(np.sum(p.mixture**2)))
    assert len({tuple(o["mixture"]) for o in opt.observations}) == 5
    W = np.random.default_rng(0).dirichlet(np.ones(4), size=3)
    (p,) = opt.ask(pool=Pool(W, ["xs"] * 3))
    assert math.isfinite(p.acquisition)  # the acquisition chooses from the sixth run on

    with pytest.raises(ValueError, match="initial_design_cost must be a number >= 0"):
        OptimizerConfig(initial_design_cost=-1.0)


def test_in_pool_mode_the_initial_design_takes_cheapest_rows_while_the_pool_has_them():
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(3), size=12)
    labels = ["big"] * 6 + ["small"] * 6
    quick = OptimizerConfig(**FAST, initial_design_cost=1.0, map_fit=MapFitConfig(num_restarts=0, max_iters=20))
    opt = Optimizer(DOMAINS, RUNGS, target="big", seed=1, config=quick)
    assert opt.initial_runs() == 4
    for _ in range(4):
        (p,) = opt.ask(pool=Pool(W, labels))
        assert p.fidelity == "small" and labels[p.index] == "small" and math.isnan(p.acquisition)
        opt.tell(p.mixture, p.fidelity, objective(p.mixture, p.fidelity))
    fresh = Optimizer(DOMAINS, RUNGS, target="big", seed=1, config=quick)
    fresh.tell(W[0], "small", objective(W[0], "small"))
    (p,) = fresh.ask(pool=Pool(W[:6], labels[:6]))  # no cheap rows left to sketch with: the acquisition
    assert p.fidelity == "big" and math.isfinite(p.acquisition)


def test_a_state_saved_before_the_initial_design_existed_loads_with_one_random_run():
    opt = _optimizer(n=2)
    state = json.loads(json.dumps(opt.state_dict()))
    assert state["config"]["initial_design_cost"] == 0.0
    state["config"]["initial_design_cost"] = 1.0
    assert Optimizer.from_state_dict(state).config.initial_design_cost == 1.0
    del state["config"]["initial_design_cost"]
    assert Optimizer.from_state_dict(state).config.initial_design_cost == 0.0
