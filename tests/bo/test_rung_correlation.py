"""The reported rung-to-target correlation recovers the correlation of the rungs' true responses."""

import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig
from admire_jax.bo.kernels import Matern52
from admire_jax.bo.rung_correlation import latent_correlation

D = 4


def _smooth(rng, W):
    """A random smooth response over mixtures (random Fourier features of sqrt(w)), standardised."""
    omega, phase, amp = rng.normal(0.0, 3.0, (40, D)), rng.uniform(0, 2 * np.pi, 40), rng.normal(size=40)
    f = np.cos(np.sqrt(W) @ omega.T + phase) @ amp
    return (f - f.mean()) / f.std()


def _two_rung_problem(correlation, seed):
    """200 mixtures: 140 run at the cheap rung, 60 at the target; the cheap response mixes the target's
    with an independent one. Returns the Optimizer told all rows and the true correlation."""
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(D), 200)
    target, other = _smooth(rng, W), _smooth(rng, W)
    cheap = correlation * target + np.sqrt(1 - correlation**2) * other
    config = OptimizerConfig(model="ar1")
    opt = Optimizer([f"d{i}" for i in range(D)], {"cheap": 0.1, "target": 1.0}, "target", seed=seed, config=config)
    for i in range(200):
        rung, value = ("cheap", cheap[i]) if i < 140 else ("target", target[i])
        opt.tell(W[i], rung, 2.0 + 0.3 * value + 0.01 * rng.normal())
    return opt, W, float(np.corrcoef(cheap, target)[0, 1])


@pytest.mark.slow
@pytest.mark.parametrize("correlation", [0.1, 0.5, 0.9])
def test_reported_correlation_within_015_of_the_truth(correlation):
    """With the AR1 model. (The linear-truncated model cannot express two rungs of equal spread that
    are barely correlated: its cheap rung is the target plus a bias, and it reports ~0.65 where the
    truth is 0.22.)"""
    opt, W, truth = _two_rung_problem(correlation, seed=int(10 * correlation))
    reported = opt.rung_correlations(W)
    assert set(reported) == {"cheap"}
    assert abs(reported["cheap"] - truth) <= 0.15, (reported, truth)


def test_latent_correlation_of_a_rung_with_itself_is_one_and_bounded():
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    rows = jnp.asarray(np.concatenate([rng.dirichlet(np.ones(D), 30), np.zeros((30, 2))], axis=1))
    kernel = Matern52(lengthscale=jnp.full((D + 2,), 0.5))
    assert float(latent_correlation(kernel, rows, rows)) == pytest.approx(1.0)
    shifted = rows.at[:, :D].set(jnp.roll(rows[:, :D], 1, axis=0))
    assert -1.0 <= float(latent_correlation(kernel, rows, shifted)) < 1.0


def test_needs_two_distinct_mixtures():
    opt = Optimizer(["a", "b"], {"cheap": 0.1, "target": 1.0}, "target")
    opt.tell(np.array([0.5, 0.5]), "cheap", 1.0)
    with pytest.raises(ValueError, match="two distinct mixtures"):
        opt.rung_correlations()
