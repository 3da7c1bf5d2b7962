"""The growth-gated schedule of full (multi-start) refits: how often they run, and that the
rarer full refits leave the fitted hyperparameters as good as refitting from restarts every
few observations (same MAP objective within a small tolerance, known lengthscales recovered)."""

import jax
import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig
from admire_jax.bo import surrogate as surrogate_module
from admire_jax.bo.fit import fit_map, log_posterior
from admire_jax.bo.params import unconstrain
from admire_jax.bo.refit import RefitPolicy


def _simulate(policy: RefitPolicy, start: int, steps: int) -> list[str]:
    """Kinds of fit along a run that adds one observation per step, after a first fit at `start`."""
    fit_size, full_size, num_fits, kinds = start, start, 1, []
    for n in range(start + 1, start + steps + 1):
        kind = policy.decide(n, fit_size, num_fits, full_size)
        kinds.append(kind)
        if kind != "reuse":
            num_fits, fit_size = num_fits + 1, n
        if kind == "full":
            full_size = n
    return kinds


def test_full_refits_are_gated_by_growth_and_the_benchmark_count_agrees():
    policy = RefitPolicy(every=1, growth=0.0, full_every=10, warm_iters=20, full_growth=0.1)
    small = _simulate(policy, 50, 100)
    assert [i for i, k in enumerate(small) if k == "full"][:3] == [9, 19, 29]  # every 10th refit
    large = _simulate(policy, 1000, 300)
    assert large.count("full") == 2 and large.count("reuse") == 0  # every 100th refit at N ~ 1000
    assert policy.refits_per_full(1000, 1) == 100 and policy.refits_per_full(50, 1) == 10
    assert RefitPolicy(full_growth=0.0).refits_per_full(1000, 1) == 10  # 0: the old every-10th rule
    sparse = RefitPolicy(every=1, growth=0.05, full_every=10, full_growth=0.1)
    assert sparse.interval(1000) == 50 and sparse.refits_per_full(1000, 50) == 10
    with pytest.raises(ValueError, match="full_refit_growth"):
        Optimizer(["a", "b"], {"big": 1.0}, target="big", config=OptimizerConfig(full_refit_growth=-0.1))


def test_new_rung_rule_refits_on_each_of_a_rungs_first_rows_only():
    """Between scheduled refits ('reuse'), a rung that had fewer than new_rung_rows rows at the
    last fit and gained rows since is refitted (warm); later rows, one rung, or 0 do not."""
    policy = RefitPolicy(every=100, new_rung_rows=3)
    decide = lambda now, then: policy.decide(sum(now), sum(then), 1, sum(then), now, then)
    assert decide([10, 0], [9, 0]) == "reuse"  # only the established rung grew
    assert decide([10, 1], [10, 0]) == "warm"  # a new rung's first row
    assert decide([10, 3], [10, 2]) == "warm"  # ... and its third
    assert decide([10, 4], [10, 3]) == "reuse"  # the rung had 3 rows at the last fit
    assert decide([10, 5, 1], [10, 5, 0]) == "warm"  # any rung, not only the last
    assert decide([2], [1]) == "reuse"  # a single rung: every fit saw its rows
    assert RefitPolicy(every=100, new_rung_rows=0).decide(11, 10, 1, 10, [10, 1], [10, 0]) == "reuse"
    assert policy.decide(11, 10, 1, 10) == "reuse"  # no rung information
    assert RefitPolicy(new_rung_rows=3).decide(11, 10, 1, 10, [10, 1], [10, 0]) == "warm"  # base decision kept
    assert policy.decide(11, 10, 0, 0, [10, 1], [0, 0]) == "full"  # first fit
    with pytest.raises(ValueError, match="rung_counts"):
        policy.decide(11, 10, 1, 10, [10, 1], [10])
    with pytest.raises(ValueError, match="new_rung_refits"):
        Optimizer(["a", "b"], {"big": 1.0}, target="big", config=OptimizerConfig(new_rung_refits=-1))


def test_optimizer_refits_when_the_first_rows_of_a_new_rung_arrive():
    """With refits due only every 100 observations, each of the first `new_rung_refits` target rows
    still refits (so the target's mean leaves the prior's centre)."""
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(3), 8)
    value = lambda w, k: float(w[0] - (w[1] - 0.3) ** 2) + (1.0 if k == "big" else 0.0)
    fits, moved = [], []
    for n in (2, 0):
        opt = Optimizer(
            ["a", "b", "c"],
            {"small": 0.01, "big": 1.0},
            target="big",
            maximize=True,
            config=OptimizerConfig(refit_every=100, new_rung_refits=n),
        )
        for w in W[:5]:
            opt.tell(w, "small", value(w, "small"))
        opt.predict(W[:1], "big")
        mean_before = float(opt.hyperparameters().mean[0, 1])
        for w in W[5:7]:
            opt.tell(w, "big", value(w, "big"))
            opt.predict(w[None], "big")
        fits.append(opt.num_fits)
        moved.append(float(opt.hyperparameters().mean[0, 1]) != mean_before)
        opt.tell(W[7], "big", value(W[7], "big"))  # the third target row: the rule (2 rows) is spent
        opt.predict(W[7:], "big")
        fits.append(opt.num_fits)
    assert fits == [3, 3, 1, 1] and moved == [True, False]  # a fit per target row with the rule; none without


def _map_objective(opt: Optimizer) -> float:
    """Negative log posterior per observation of the Optimizer's current hyperparameters."""
    params = jax.tree_util.tree_map(lambda a: a[0], opt.hyperparameters())
    with opt.surrogate.numerics():
        data = opt.training_data()
        return float(
            -log_posterior(unconstrain(params), data.inputs, data.y, data.mask, jacobian=False) / data.mask.sum()
        )


def _run(full_refit_growth: float, monkeypatch, restarts: list) -> Optimizer:
    """Sequential tells on a 3-domain problem where only domain 0 matters, refitting each time."""

    def counting_fit_map(*args, **kwargs):
        restarts.append(kwargs["num_restarts"])  # 0: a warm refit
        return fit_map(*args, **kwargs)

    monkeypatch.setattr(surrogate_module, "fit_map", counting_fit_map)
    opt = Optimizer(
        ["a", "b", "c"],
        {"big": 1.0},
        target="big",
        seed=0,
        config=OptimizerConfig(full_refit_every=2, full_refit_growth=full_refit_growth),
    )
    rng = np.random.default_rng(5)
    for i in range(36):
        w = rng.dirichlet(np.ones(3))
        opt.tell(w, "big", float(np.sin(6.0 * w[0]) + 0.01 * rng.normal()))
        if i >= 11:
            opt.predict(w[None], "big")  # refits per the policy
    return opt


@pytest.mark.slow
def test_growth_gated_full_refits_fit_as_well_as_frequent_ones(monkeypatch):
    every, gated = [], []
    frequent = _run(0.0, monkeypatch, every)
    rare = _run(0.5, monkeypatch, gated)
    full = lambda restarts: sum(r > 0 for r in restarts)
    assert full(every) == 13 and full(gated) == 3  # full fits: far fewer
    assert _map_objective(rare) <= _map_objective(frequent) + 0.005  # nats per observation
    ls = np.asarray(rare.hyperparameters().kernel.kernel.kernel.kernel.lengthscale)[
        0
    ]  # Scale(MixtureOnly(Transformed(.)))
    assert ls[0] * 5 < min(ls[1], ls[2])  # only domain 0 matters
