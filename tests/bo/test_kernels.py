"""Kernels, transforms, the fidelity kernel and the AR1 kernel against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from admire_jax.bo.ar1 import AR1
from admire_jax.bo.fidelity import LinearTruncatedFidelity, fidelity_coordinates
from admire_jax.bo.gp import x64
from admire_jax.bo.kernels import RBF, Matern12, Matern32, Matern52, Scale, safe_norm
from admire_jax.bo.params import constrain, log_prior, unconstrain
from admire_jax.bo.transforms import LogRatio, SqrtSimplex

X1, X2 = np.array([0.0, 0.0]), np.array([0.3, 0.4])
LS = np.array([0.5, 2.0])  # scaled distance r = sqrt(0.6^2 + 0.2^2) = sqrt(0.4)


@pytest.mark.parametrize(
    "cls, expected",
    [
        (Matern52, 0.7490135404670808),  # (1 + sqrt2 + 2/3) exp(-sqrt2)
        (Matern32, 0.7006974247924902),  # (1 + sqrt(1.2)) exp(-sqrt(1.2))
        (Matern12, 0.5312856091329677),  # exp(-sqrt(0.4))
        (RBF, 0.8187307530779818),  # exp(-0.2)
    ],
)
def test_stationary_kernels_match_hand_computed_values(cls, expected):
    with x64():
        k = cls(lengthscale=jnp.asarray(LS))
        assert float(k.evaluate(X1, X2)) == pytest.approx(expected, rel=1e-12)
        assert float(k.evaluate(X1, X1)) == 1.0
        G = np.asarray(k(np.stack([X1, X2])))
        np.testing.assert_allclose(G, [[1.0, expected], [expected, 1.0]], rtol=1e-12)


def test_scale_sum_product():
    with x64():
        a, b = Matern52(lengthscale=jnp.asarray(LS)), RBF(lengthscale=jnp.asarray(LS))
        ka, kb = 0.7490135404670808, 0.8187307530779818
        assert float(Scale(a, jnp.asarray(2.5)).evaluate(X1, X2)) == pytest.approx(2.5 * ka)
        assert float((a + b).evaluate(X1, X2)) == pytest.approx(ka + kb)
        assert float((a * b).evaluate(X1, X2)) == pytest.approx(ka * kb)


@pytest.mark.parametrize("cls", [Matern12, Matern32, Matern52, RBF])
def test_kernel_gradients_are_finite_and_correct_including_zero_distance(cls):
    with x64():
        k = cls(lengthscale=jnp.asarray(LS))
        check_grads(lambda x: k.evaluate(x, jnp.asarray(X2)), (jnp.asarray(X1),), order=1, modes=["rev", "fwd"])
        check_grads(
            lambda ls: cls(lengthscale=ls).evaluate(jnp.asarray(X1), jnp.asarray(X2)), (jnp.asarray(LS),), order=2
        )
        g = jax.grad(lambda x: k.evaluate(x, jnp.asarray(X2)))(jnp.asarray(X2))
        assert np.all(np.isfinite(g))
        assert np.all(np.isfinite(jax.grad(safe_norm)(jnp.zeros(3))))


def test_simplex_transforms_are_finite_at_zero_weights():
    with x64():
        w = jnp.asarray([0.0, 0.25, 0.75])
        for t in (SqrtSimplex(), LogRatio(pseudo_count=0.01)):
            k = Matern52(lengthscale=jnp.ones(3))
            g = jax.grad(lambda w: k.evaluate(t(w), t(jnp.asarray([0.5, 0.5, 0.0]))))(w)
            assert np.all(np.isfinite(g))
        np.testing.assert_allclose(SqrtSimplex()(w), [1e-6, 0.5, math.sqrt(0.75)], atol=1e-9)
        z = np.log(np.array([0.0, 0.25, 0.75]) + 0.01)
        np.testing.assert_allclose(LogRatio(pseudo_count=0.01)(w), z - z.mean(), rtol=1e-12)


def test_constraints_round_trip_and_priors():
    with x64():
        k = Scale(Matern52(lengthscale=jnp.asarray([0.3, 4.0])), jnp.asarray(2.0))
        raw = unconstrain(k)
        back = constrain(raw)
        np.testing.assert_allclose(back.kernel.lengthscale, [0.3, 4.0], rtol=1e-10)
        assert float(back.variance) == pytest.approx(2.0)
        assert np.isfinite(float(log_prior(k)))


def _ltf_hand(W, s, ls0, ls1, p):
    def m52(a, b, ls):
        r = np.sqrt(np.sum(((a - b) / ls) ** 2))
        return (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)

    n = len(W)
    K = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            c = (1 - s[i]) * (1 - s[j]) * (1 + s[i] * s[j]) ** p
            K[i, j] = m52(W[i], W[j], ls0) + c * m52(W[i], W[j], ls1)
    return K


def test_linear_truncated_fidelity_kernel_matches_hand_computed_matrix():
    with x64():
        W = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
        s = np.array([0.0, 0.5, 1.0])
        X = np.concatenate([W, s[:, None], np.zeros((3, 1))], axis=1)
        ls0, ls1, p = np.array([0.4, 0.7]), np.array([1.1, 0.3]), 2.0
        k = LinearTruncatedFidelity(
            Matern52(lengthscale=jnp.asarray(ls0)),
            Matern52(lengthscale=jnp.asarray(ls1)),
            power=jnp.asarray(p),
            num_domains=2,
        )
        np.testing.assert_allclose(np.asarray(k(X)), _ltf_hand(W, s, ls0, ls1, p), rtol=1e-12)
        # at the target (s = 1) only the unbiased kernel remains
        k0 = Matern52(lengthscale=jnp.asarray(ls0))
        assert float(k.evaluate(X[2], X[0])) == pytest.approx(float(k0.evaluate(W[2], W[0])))


def test_ar1_kernel_is_the_joint_covariance_of_the_recursion():
    with x64():
        rho = np.array([0.8, 1.2])
        kernels = tuple(
            Scale(Matern52(lengthscale=jnp.full(2, ls)), jnp.asarray(v))
            for ls, v in [(0.5, 1.0), (0.3, 0.2), (0.9, 0.05)]
        )
        ar1 = AR1(kernels, rho=jnp.asarray(rho), num_domains=2)
        w1, w2 = np.array([0.3, 0.7]), np.array([0.6, 0.4])
        kl = [float(k.evaluate(w1, w2)) for k in kernels]
        # f0 = d0; f1 = 0.8 d0 + d1; f2 = 1.2 f1 + d2 = 0.96 d0 + 1.2 d1 + d2
        coef = np.array([[1.0, 0.0, 0.0], [0.8, 1.0, 0.0], [0.96, 1.2, 1.0]])
        for i in range(3):
            for j in range(3):
                expected = sum(coef[i, l] * coef[j, l] * kl[l] for l in range(3))
                x1 = np.concatenate([w1, [0.0, float(i)]])
                x2 = np.concatenate([w2, [0.0, float(j)]])
                assert float(ar1.evaluate(x1, x2)) == pytest.approx(expected, rel=1e-12)


def test_fidelity_coordinate_from_cost():
    c = {"1M": 0.001, "60M": 0.06, "1B": 1.0}
    s = fidelity_coordinates(c, "1B")
    assert s["1B"] == 1.0 and s["1M"] == 0.0
    assert s["60M"] == pytest.approx(1 - math.log(1 / 0.06) / math.log(1 / 0.001))
    assert fidelity_coordinates(c, "1B", kind="linear_cost")["60M"] == pytest.approx(0.06)
    assert fidelity_coordinates(c, "1B", kind="rank") == {"1M": 0.0, "60M": 0.5, "1B": 1.0}
    with pytest.raises(ValueError, match="unknown fidelity map"):
        fidelity_coordinates(c, "1B", kind="nope")
