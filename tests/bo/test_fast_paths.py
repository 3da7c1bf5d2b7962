"""The fast path of the GP refit gives the same numbers as the plain definition (the
log-likelihood gradient vs autodiff through the Cholesky and finite differences), under jit as
well; plus the refit policy and the absence of recompilation between BO iterations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import solve_triangular

from admire_jax.bo import Optimizer, OptimizerConfig, Pool
from admire_jax.bo.gp import gaussian_log_density, x64


def _plain_log_density(K, resid, n):
    L = jnp.linalg.cholesky(K)
    v = solve_triangular(L, resid, lower=True)
    return -0.5 * v @ v - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * n * jnp.log(2 * jnp.pi)


def test_log_density_custom_gradient_matches_autodiff_through_the_cholesky():
    with x64():
        rng = np.random.default_rng(3)
        A = rng.normal(size=(7, 7))
        K = jnp.asarray(A @ A.T + 0.5 * np.eye(7))
        resid = jnp.asarray(rng.normal(size=7))
        n = jnp.asarray(7.0)
        assert float(gaussian_log_density(K, resid, n)) == pytest.approx(
            float(_plain_log_density(K, resid, n)), rel=1e-12
        )
        fast = jax.jit(jax.grad(gaussian_log_density, argnums=(0, 1)))(K, resid, n)
        slow = jax.grad(_plain_log_density, argnums=(0, 1))(K, resid, n)
        # The plain gradient w.r.t. K lives on the lower triangle (cholesky reads only it); compare
        # the derivative along symmetric directions, which is what a covariance ever moves along.
        sym = lambda G: G + G.T - jnp.diag(jnp.diag(G))
        np.testing.assert_allclose(sym(fast[0]), sym(slow[0]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-10)
        dK = jnp.asarray(rng.normal(size=(7, 7)))
        dK = dK + dK.T
        eps = 1e-6
        numeric = (gaussian_log_density(K + eps * dK, resid, n) - gaussian_log_density(K - eps * dK, resid, n)) / (
            2 * eps
        )
        assert float(jnp.sum(fast[0] * dK)) == pytest.approx(float(numeric), rel=1e-6)


DOMAINS, RUNGS = ["a", "b", "c"], {"small": 0.01, "big": 1.0}
FAST = dict(raw_samples=64, num_restarts=2, refine_steps=10)


def _tell(opt, rng, n):
    for _ in range(n):
        w = rng.dirichlet(np.ones(3))
        fid = ["small", "big"][int(rng.integers(2))]
        opt.tell(w, fid, float(np.sum((w - 0.3) ** 2) + 0.1 * (fid == "small")))


def _noise(opt):
    opt.predict(np.full((1, 3), 1 / 3), "big")  # conditions the GP (refitting per the policy)
    return np.asarray(opt.hyperparameters().noise)  # the per-rung noise


def test_refit_every_reuses_hyperparameters_between_refits():
    # new_rung_refits=0: the schedule of refit_every alone (the rule's own tests: tests/bo/test_refit_schedule.py)
    opt = Optimizer(DOMAINS, RUNGS, target="big", config=OptimizerConfig(refit_every=3, new_rung_refits=0, **FAST))
    rng = np.random.default_rng(0)
    _tell(opt, rng, 5)
    noises = [_noise(opt)]
    fits = [opt.num_fits]
    for _ in range(4):
        _tell(opt, rng, 1)
        noises.append(_noise(opt))
        fits.append(opt.num_fits)
    assert fits == [1, 1, 1, 2, 2]
    np.testing.assert_array_equal(noises[0], noises[2])
    assert not np.array_equal(noises[2], noises[3])
    _tell(opt, rng, 1)
    np.testing.assert_array_equal(_noise(opt), noises[-1])
    assert opt.num_fits == 2  # 10 observations, last refit at 8: reused
    with pytest.raises(ValueError, match="refit_every"):
        OptimizerConfig(refit_every=0)


@pytest.mark.slow
def test_no_recompilation_between_bo_iterations_within_a_size_bucket():
    compiles = []
    listener = lambda event, duration, **kw: compiles.append(event) if "backend_compile" in event else None
    opt = Optimizer(DOMAINS, RUNGS, target="big", config=OptimizerConfig(refit_every=2, **FAST))
    rng = np.random.default_rng(1)
    _tell(opt, rng, 6)
    pool = Pool(rng.dirichlet(np.ones(3), 20), ["small", "big"] * 10)
    for _ in range(3):  # warm-up: the first full fit, a warm refit and a reuse step
        prop = opt.ask(pool=pool)[0]
        opt.tell(prop.mixture, prop.fidelity, 0.5)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for _ in range(3):
            prop = opt.ask(pool=pool)[0]
            opt.tell(prop.mixture, prop.fidelity, float(np.sum(prop.mixture**2)))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert opt.num_fits >= 3 and compiles == []


def test_map_fit_falls_back_to_finite_hyperparameters_when_every_start_diverges():
    from admire_jax.bo.data import TrainingData
    from admire_jax.bo.fit import fit_map
    from admire_jax.bo.models import build_model

    with x64():
        init = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), build_model(3, 1))
        X = np.concatenate([np.random.default_rng(0).dirichlet(np.ones(3), 4), np.ones((4, 1)), np.zeros((4, 1))], 1)
        y = np.array([0.1, np.nan, -0.2, 0.3])  # a poisoned objective: every start's loss is NaN
        fitted = fit_map(init, TrainingData.of(X, y), jax.random.key(0), num_restarts=2, max_iters=5)
        for got, want in zip(jax.tree_util.tree_leaves(fitted), jax.tree_util.tree_leaves(init)):
            np.testing.assert_array_equal(got[0], want)
