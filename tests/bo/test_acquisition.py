"""Acquisitions: hand-computed EI, information gains against Monte Carlo, the knowledge gradient
against its closed form, gradients, cost rule."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.stats import norm

from admire_jax.bo import acquisition as acq
from admire_jax.bo.cost import AffineCost, FixedCost, LearnedCost, cost_weighted, log_cost_weighted
from admire_jax.bo.gp import x64


def test_log_ei_matches_hand_computed_ei():
    with x64():
        # mean 1, std 2, best 0.5: z = 0.25; EI = 2 (phi(0.25) + 0.25 Phi(0.25))
        expected = 2 * (0.38666811680284924 + 0.25 * 0.5987063256829237)
        assert math.exp(float(acq.log_ei(jnp.asarray(1.0), jnp.asarray(2.0), jnp.asarray(0.5)))) == pytest.approx(
            expected, rel=1e-12
        )
        # far below the incumbent: EI underflows in float64 but its log stays accurate
        z = -40.0
        log_h = float(acq.log_h(jnp.asarray(z)))
        asymptotic = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - 2 * math.log(-z) + math.log1p(-3 / z**2)
        assert log_h == pytest.approx(asymptotic, rel=1e-6)
        for z in (-0.5, -3.0, 1.5):
            assert float(acq.log_h(jnp.asarray(z))) == pytest.approx(math.log(norm.pdf(z) + z * norm.cdf(z)), rel=1e-10)


def test_ucb():
    with x64():
        assert float(acq.ucb(jnp.asarray(1.0), jnp.asarray(0.5), 4.0)) == pytest.approx(2.0)


def _mc_entropy_reduction(mean_a, std_a, mean_t, std_t, rho, fstar, noise=0.0, n=2_000_000, seed=0):
    """H[y_a] - H[y_a | f_t <= f*] by Monte Carlo, for Gaussian (y_a, f_t) with correlation rho
    between f_a and f_t and observation noise on y_a."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    z = rho * t + math.sqrt(1 - rho**2) * rng.normal(size=n)
    sy = math.sqrt(std_a**2 + noise)
    ya = mean_a + std_a * z + math.sqrt(noise) * rng.normal(size=n)
    gamma = (fstar - mean_t) / std_t
    keep = ya[t <= gamma]
    rho_y = rho * std_a / sy
    u = (gamma - rho_y * (keep - mean_a) / sy) / math.sqrt(1 - rho_y**2)
    log_p = norm.logpdf(keep, mean_a, sy) + norm.logcdf(u) - norm.logcdf(gamma)
    return 0.5 * math.log(2 * math.pi * math.e * sy**2) + np.mean(log_p)


@pytest.mark.parametrize("rho", [0.3, 0.8, 0.97])
def test_mf_mes_gain_matches_monte_carlo(rho):
    with x64():
        mean_a, std_a, mean_t, std_t, fstar = 0.2, 1.3, -0.1, 0.7, 0.9
        got = float(
            acq.mf_mes_gain(
                jnp.asarray([mean_a]),
                jnp.asarray([std_a**2]),
                jnp.asarray([mean_t]),
                jnp.asarray([std_t**2]),
                jnp.asarray([rho * std_a * std_t]),
                jnp.asarray([fstar]),
            )[0]
        )
        mc = _mc_entropy_reduction(mean_a, std_a, mean_t, std_t, rho, fstar)
        assert got == pytest.approx(mc, abs=3e-3)


def test_mes_gain_matches_monte_carlo_and_mf_mes_at_full_correlation():
    with x64():
        mean, std, fstar = jnp.asarray([0.3]), jnp.asarray([0.8]), jnp.asarray([1.1])
        mes = float(acq.mes_gain(mean, std, fstar)[0])
        mc = _mc_entropy_reduction(0.3, 0.8, 0.3, 0.8, 0.9999, 1.1)
        assert mes == pytest.approx(mc, abs=5e-3)
        mf = float(acq.mf_mes_gain(mean, std**2, mean, std**2, std**2, fstar)[0])
        assert mf == pytest.approx(mes, rel=1e-6)
        uncorrelated = float(acq.mf_mes_gain(mean, std**2, mean, std**2, jnp.zeros(1), fstar)[0])
        assert abs(uncorrelated) < 1e-9


def test_gibbon_is_a_lower_bound_on_the_information_gain():
    with x64():
        for rho, noise in [(0.5, 0.1), (0.9, 0.3), (0.99, 0.01)]:
            g = float(
                acq.gibbon_gain(
                    jnp.asarray([0.2]),
                    jnp.asarray([1.0]),
                    jnp.asarray([noise]),
                    jnp.asarray([0.0]),
                    jnp.asarray([1.0]),
                    jnp.asarray([rho]),
                    jnp.asarray([0.8]),
                )[0]
            )
            mc = _mc_entropy_reduction(0.2, 1.0, 0.0, 1.0, rho, 0.8, noise=noise)
            assert 0 < g <= mc + 2e-3


def test_knowledge_gradient_matches_closed_form_and_monte_carlo():
    with x64():
        # two choices: E[max(a1 + b1 Z, a2 + b2 Z)] - max(a) = |b1 - b2| f(-|a1 - a2| / |b1 - b2|),
        # f(z) = phi(z) + z Phi(z)
        a, b = np.array([0.3, -0.2]), np.array([0.1, 0.9])
        c = abs(a[0] - a[1]) / abs(b[0] - b[1])
        closed = abs(b[0] - b[1]) * (norm.pdf(-c) + (-c) * norm.cdf(-c))
        got = float(acq.knowledge_gradient(jnp.asarray(a)[:, None], jnp.asarray(b)[:, None])[0])
        assert got == pytest.approx(closed, rel=1e-10)
        # many choices, against Monte Carlo; a padded choice changes nothing
        rng = np.random.default_rng(0)
        means, slopes = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
        z = rng.normal(size=400_000)
        mc = (means[:, :, None] + slopes[:, :, None] * z).max(0).mean(-1) - means.max(0)
        got = np.asarray(acq.knowledge_gradient(jnp.asarray(means), jnp.asarray(slopes)))
        np.testing.assert_allclose(got, mc, rtol=2e-2)
        padded = acq.knowledge_gradient(
            jnp.concatenate([jnp.asarray(means), jnp.full((1, 3), -1e30)]),
            jnp.concatenate([jnp.asarray(slopes), jnp.zeros((1, 3))]),
        )
        np.testing.assert_allclose(np.asarray(padded), got, rtol=1e-12)
        # an observation that moves no choice, or moves all alike, is worth nothing
        flat = acq.knowledge_gradient(jnp.asarray(means), jnp.ones((6, 3)) * 0.7)
        np.testing.assert_allclose(np.asarray(flat), 0.0, atol=1e-12)


def test_acquisition_gradients():
    with x64():
        f = jnp.asarray([0.9, 1.4])
        args = (jnp.asarray([0.2]), jnp.asarray([1.2]), jnp.asarray([-0.1]), jnp.asarray([0.6]), jnp.asarray([0.5]))
        check_grads(jax.jit(lambda *a: acq.mf_mes_gain(*a, f)), args, order=1, modes=["rev"])
        check_grads(jax.jit(lambda m, v: acq.mes_gain(m, jnp.sqrt(v), f)), (args[0], args[1]), order=1, modes=["rev"])
        check_grads(jax.jit(lambda m, s: acq.log_ei(m, s, jnp.asarray(0.7))), (args[0], args[1]), order=2)
        means = jnp.asarray([[0.3], [-0.2], [0.1]])
        check_grads(jax.jit(lambda s: acq.knowledge_gradient(means, s)), (jnp.asarray([[0.1], [0.9], [-0.4]]),), 1)
        check_grads(
            jax.jit(lambda *a: acq.gibbon_gain(a[0], a[1], jnp.asarray([0.1]), a[2], a[3], a[4], f)),
            args,
            order=1,
            modes=["rev"],
        )


def test_gumbel_max_values_match_the_distribution_of_the_maximum():
    with x64():
        mean, std = jnp.asarray([0.0, 0.5, 0.2, -1.0]), jnp.asarray([1.0, 0.3, 0.8, 2.0])
        s = np.asarray(acq.gumbel_max_values(mean, std, jax.random.key(0), 20000))
        draws = np.random.default_rng(0).normal(np.asarray(mean), np.asarray(std), (200000, 4)).max(1)
        # the Gumbel matches the median of the maximum and its interquartile range
        assert np.median(s) == pytest.approx(np.median(draws), abs=0.02)
        iqr = lambda a: np.quantile(a, 0.75) - np.quantile(a, 0.25)
        assert iqr(s) == pytest.approx(iqr(draws), abs=0.03)
        cov = jnp.diag(std**2)
        t = np.asarray(acq.thompson_max_values(mean, cov, jax.random.key(1), 20000))
        assert np.median(t) == pytest.approx(np.median(draws), abs=0.03)


def test_cost_aware_rule_and_cost_models():
    u, c = jnp.asarray([2.0, -2.0, 0.0]), jnp.asarray([4.0, 4.0, 4.0])
    np.testing.assert_allclose(cost_weighted(u, c), [0.5, -8.0, 0.0])
    assert float(log_cost_weighted(jnp.log(2.0), 4.0)) == pytest.approx(math.log(0.5))
    declared = {"s": 1.0, "m": 10.0, "l": 100.0}
    assert FixedCost()(declared, {}) == declared
    aff = AffineCost(
        parameters={"s": 1e6, "m": 6e7, "l": 1e9}, tokens={"s": 1e9, "m": 1e9, "l": 2e10}, intercept=5.0, slope=1e-15
    )
    assert aff(declared, {})["m"] == pytest.approx(5.0 + 6e7 * 1e9 * 1e-15)
    with pytest.raises(ValueError, match="AffineCost"):
        AffineCost(parameters={"s": 1.0}, tokens={"s": 1.0})(declared, {})
    learned = LearnedCost()(declared, {"s": [2.0, 8.0], "m": [], "l": []})
    assert learned["s"] == pytest.approx(4.0)  # geometric mean of the measured costs
    assert learned["l"] == pytest.approx(400.0)  # declared x the measured/declared ratio of "s"
