"""Exact GP: posterior against dense numpy, padding, jitter, scoped float64, MAP and NUTS fits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admire_jax.bo import gp
from admire_jax.bo.data import TrainingData
from admire_jax.bo.fit import fit_map, fit_nuts
from admire_jax.bo.gp import cholesky_with_jitter, x64
from admire_jax.bo.models import build_model

condition, predict = jax.jit(gp.condition), jax.jit(gp.predict)
predict_joint, log_marginal_likelihood = jax.jit(gp.predict_joint), jax.jit(gp.log_marginal_likelihood)


def _rows(W, s=1.0, r=0.0):
    n = len(W)
    return np.concatenate([W, np.full((n, 1), s), np.full((n, 1), r)], axis=1)


def _problem(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(d), n)
    return _rows(W), np.sin(6 * W[:, 0]) + 0.1 * rng.normal(size=n)


def _params(d=3, rungs=1):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), build_model(d, rungs))


def test_posterior_matches_dense_numpy_solve_and_padding_changes_nothing():
    with x64():
        X, y = _problem()
        p = _params()
        Xs = _rows(np.random.default_rng(1).dirichlet(np.ones(3), 5))
        K = np.asarray(p.kernel(X)) + np.diag(np.asarray(p.noise_at(X)))
        Ks, Kss = np.asarray(p.kernel(X, Xs)), np.asarray(p.kernel(Xs))
        mean_np = Ks.T @ np.linalg.solve(K, y)
        cov_np = Kss - Ks.T @ np.linalg.solve(K, Ks)
        lml_np = -0.5 * y @ np.linalg.solve(K, y) - 0.5 * np.linalg.slogdet(K)[1] - 6 * np.log(2 * np.pi)
        mask = np.ones(12, bool)
        mean, var = predict(condition(p, X, y, mask), Xs)
        np.testing.assert_allclose(mean, mean_np, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(var, np.diag(cov_np), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(predict_joint(condition(p, X, y, mask), Xs)[1], cov_np, atol=1e-10)
        assert float(log_marginal_likelihood(p, X, y, mask)) == pytest.approx(lml_np, rel=1e-10)
        # padding with junk rows (masked out) leaves everything unchanged
        Xp, yp = np.concatenate([X, np.ones((4, 5))]), np.concatenate([y, 7 * np.ones(4)])
        mp = np.arange(16) < 12
        np.testing.assert_allclose(predict(condition(p, Xp, yp, mp), Xs)[0], mean_np, rtol=1e-9)
        assert float(log_marginal_likelihood(p, Xp, yp, mp)) == pytest.approx(lml_np, rel=1e-10)


def test_cholesky_jitter_grows_inside_jit_until_it_succeeds():
    with x64():
        K = jnp.ones((5, 5))  # rank one: plain Cholesky fails (NaN inside jit)
        assert not np.all(np.isfinite(np.asarray(jax.jit(jnp.linalg.cholesky)(K))))
        L = np.asarray(jax.jit(cholesky_with_jitter)(K))
        assert np.all(np.isfinite(L))
        np.testing.assert_allclose(L @ L.T, K, atol=1e-5)
        g = jax.grad(lambda a: jnp.sum(cholesky_with_jitter(a * jnp.eye(3) + 1.0)))(2.0)
        eps = 1e-6
        fd = (
            jnp.sum(jnp.linalg.cholesky((2 + eps) * jnp.eye(3) + 1.0))
            - jnp.sum(jnp.linalg.cholesky((2 - eps) * jnp.eye(3) + 1.0))
        ) / (2 * eps)
        assert float(g) == pytest.approx(float(fd), rel=1e-6)


def test_float64_stays_local_to_the_gp_code():
    with x64():
        assert jnp.asarray(1.0).dtype == jnp.float64
    assert jnp.asarray(1.0).dtype == jnp.float32


def _synthetic(n, seed):
    """3 domains; the objective varies in domain 0 only (short lengthscale there)."""
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(3), n)
    y = np.sin(8 * np.sqrt(W[:, 0])) + 0.01 * rng.normal(size=n)
    return _rows(W), (y - y.mean()) / y.std()


def _lengthscales(params):
    return np.asarray(params.kernel.kernel.kernel.kernel.lengthscale)


def test_map_recovers_the_relevant_dimension():
    with x64():
        X, y = _synthetic(40, 0)
        fitted = fit_map(_params(), TrainingData.of(X, y), jax.random.key(0))
        ls = _lengthscales(fitted)[0]
        assert ls[0] < 1.0 and ls[0] * 5 < min(ls[1], ls[2])  # only domain 0 matters
        assert float(fitted.noise[0, 0]) < 0.01


@pytest.mark.slow
def test_nuts_recovers_the_relevant_dimension_and_returns_samples():
    with x64():
        X, y = _synthetic(40, 0)
        samples = fit_nuts(
            _params(),
            TrainingData.of(X, y),
            jax.random.key(0),
            num_warmup=100,
            num_samples=40,
            max_tree_depth=5,
            num_hyper_samples=8,
        )
        ls = _lengthscales(samples)
        assert ls.shape == (8, 3)
        assert np.median(ls[:, 0]) < 1.0 and np.all(ls[:, 0] < np.minimum(ls[:, 1], ls[:, 2]))
        assert len(np.unique(ls[:, 0])) > 1  # genuinely different posterior draws
