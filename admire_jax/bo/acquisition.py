"""Acquisition functions on posterior moments (standardised outcomes, maximisation).

Information-based ones (MES, MF-MES, GIBBON) need samples f* of the maximum of the target
function; `gumbel_max_values` and `thompson_max_values` draw them. The knowledge gradient needs
the posterior means of a finite set of target choices and how one observation would move them.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfcx, log_ndtr, ndtr, ndtri

from admire_jax.bo.gp import cholesky_with_jitter

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_GAMMA_MIN = -10.0  # below this the max-value sample sits far under the mean: no information


def _log_pdf(z: jax.Array) -> jax.Array:
    return -0.5 * z * z - _LOG_SQRT_2PI


def log_h(z: jax.Array) -> jax.Array:
    """log(phi(z) + z Phi(z)), accurate for very negative z (the LogEI of Ament et al. 2023)."""
    z_hi = jnp.maximum(z, -1.0)
    direct = jnp.log(jnp.exp(_log_pdf(z_hi)) + z_hi * jnp.exp(log_ndtr(z_hi)))
    z_mid = jnp.clip(z, -1e4, -1.0)
    mid = _log_pdf(z_mid) + jnp.log1p(z_mid * math.sqrt(math.pi / 2) * erfcx(-z_mid / math.sqrt(2.0)))
    z_lo = jnp.minimum(z, -1e4)
    far = _log_pdf(z_lo) - 2.0 * jnp.log(-z_lo)
    return jnp.where(z > -1.0, direct, jnp.where(z > -1e4, mid, far))


def log_ei(mean: jax.Array, std: jax.Array, best: jax.Array) -> jax.Array:
    """log E[max(f - best, 0)] for f ~ N(mean, std^2)."""
    return jnp.log(std) + log_h((mean - best) / std)


def ucb(mean: jax.Array, std: jax.Array, beta: float) -> jax.Array:
    return mean + math.sqrt(beta) * std


def _gamma_and_ratio(mean, std, fstar_K):
    """gamma = (f* - mean) / std and psi(gamma) / Psi(gamma), shapes [..., K]."""
    gamma = jnp.maximum((fstar_K - mean[..., None]) / std[..., None], _GAMMA_MIN)
    return gamma, jnp.exp(_log_pdf(gamma) - log_ndtr(gamma)), log_ndtr(gamma)


def mes_gain(mean: jax.Array, std: jax.Array, fstar_K: jax.Array) -> jax.Array:
    """Max-value entropy search (Wang & Jegelka 2017): information about f* from f(x)."""
    gamma, ratio, log_cdf = _gamma_and_ratio(mean, std, fstar_K)
    return jnp.mean(0.5 * gamma * ratio - log_cdf, axis=-1)


_LEG_T, _LEG_W = np.polynomial.legendre.leggauss(16)
_LEG_T, _LEG_W = 0.5 * (_LEG_T + 1.0), 0.5 * _LEG_W
_HERM_E, _HERM_W = np.polynomial.hermite_e.hermegauss(16)
_HERM_W = _HERM_W / math.sqrt(2.0 * math.pi)


def mf_mes_gain(mean_a, var_a, mean_t, var_t, cov_at, fstar_K) -> jax.Array:
    """Multi-fidelity MES (Takeno et al. 2020): information about the target maximum f* from
    observing a_x at a rung, given the joint Gaussian posterior of (a_x, f_target(x)). With `var_a`
    the latent variance plus the rung's noise, a_x is the noisy observation a run returns: a noisy
    rung whose latent value is already well known is then worth little, however strongly its
    latent value correlates with the target's.

    gain = rho^2 gamma psi / (2 Psi) - log Psi + E[log Phi((gamma - rho z) / sqrt(1 - rho^2))],
    the expectation over z | f_target <= f*, computed by 16 x 16 Gauss quadrature.
    """
    std_t = jnp.sqrt(var_t)
    rho = jnp.clip(cov_at / jnp.sqrt(var_a * var_t), -1.0 + 1e-9, 1.0 - 1e-9)[..., None]
    s = jnp.sqrt(1.0 - rho * rho)
    gamma, ratio, log_cdf = _gamma_and_ratio(mean_t, std_t, fstar_K)
    # zeta: target standardised value, truncated to (-inf, gamma], by inverse-CDF nodes.
    t, wt = jnp.asarray(_LEG_T, mean_a.dtype), jnp.asarray(_LEG_W, mean_a.dtype)
    e, we = jnp.asarray(_HERM_E, mean_a.dtype), jnp.asarray(_HERM_W, mean_a.dtype)
    zeta = ndtri(jnp.exp(jnp.log(t) + log_cdf[..., None]))[..., :, None]  # [..., K, 16, 1]
    rho4, s4, gamma4 = rho[..., None, None], s[..., None, None], gamma[..., None, None]
    z = rho4 * zeta + s4 * e
    expect = jnp.einsum("...ij,i,j->...", log_ndtr((gamma4 - rho4 * z) / s4), wt, we)
    return jnp.mean((rho * rho) * 0.5 * gamma * ratio - log_cdf + expect, axis=-1)


_KG_Z_LIMIT = 40.0  # |z| beyond which no choice's interval carries probability in float64


def _knowledge_gradient_one(gap_A: jax.Array, slope_A: jax.Array) -> jax.Array:
    """E[max_a (gap_a + slope_a Z)] for one observation: choice a is the best on an interval of z
    (the upper envelope of lines is convex), and the expectation is the sum over choices of a
    Gaussian integral of a line over its interval."""
    d_slope = slope_A[:, None] - slope_A[None, :]  # [a, b]: a beats b where d_slope z >= d_gap
    d_gap = gap_A[None, :] - gap_A[:, None]
    meet = jnp.clip(d_gap / jnp.where(d_slope == 0, 1.0, d_slope), -_KG_Z_LIMIT, _KG_Z_LIMIT)
    lower = jnp.max(jnp.where(d_slope > 0, meet, -_KG_Z_LIMIT), axis=1)
    upper = jnp.min(jnp.where(d_slope < 0, meet, _KG_Z_LIMIT), axis=1)
    index = jnp.arange(gap_A.shape[0])
    parallel_beaten = (d_slope == 0) & ((d_gap > 0) | ((d_gap == 0) & (index[None, :] < index[:, None])))
    never_best = jnp.any(parallel_beaten, axis=1) | (lower >= upper)
    pdf = lambda z: jnp.exp(_log_pdf(z))
    part = gap_A * (ndtr(upper) - ndtr(lower)) + slope_A * (pdf(lower) - pdf(upper))
    return jnp.sum(jnp.where(never_best, 0.0, part))


def knowledge_gradient(mean_AxM: jax.Array, slope_AxM: jax.Array) -> jax.Array:
    """E[max_a (mean_a + slope_a Z)] - max_a mean_a for Z ~ N(0, 1), per column m: how much one
    observation is expected to raise the best posterior mean over A choices (Frazier et al. 2009),
    where observing y_m moves choice a's mean by slope_am Z (slope = posterior cov(f_a, y_m) / sd(y_m)).
    Never negative; zero when no choice can overtake the best. Exact (no quadrature); padded
    choices carry a mean of -1e30 and a zero slope."""
    gap_AxM = mean_AxM - jnp.max(mean_AxM, axis=0)
    gains = jax.lax.map(lambda col: _knowledge_gradient_one(*col), (gap_AxM.T, slope_AxM.T))
    return jnp.maximum(gains, 0.0)


def gibbon_gain(mean_a, var_a, noise_a, mean_t, var_t, cov_at, fstar_K) -> jax.Array:
    """GIBBON lower bound (Moss et al. 2021) on the information about f* from a noisy
    observation y_a(x): -1/2 log(1 - rho^2 mean_K[gamma lambda + lambda^2])."""
    rho2 = cov_at**2 / ((var_a + noise_a) * var_t)
    gamma, ratio, _ = _gamma_and_ratio(mean_t, jnp.sqrt(var_t), fstar_K)
    shrink = jnp.mean(gamma * ratio + ratio * ratio, axis=-1)
    return -0.5 * jnp.log1p(-jnp.clip(rho2 * shrink, 0.0, 1.0 - 1e-12))


def gumbel_max_values(mean_M, std_M, key, num_samples: int) -> jax.Array:
    """f* samples from a Gumbel fitted to P(max <= y) = prod_i Phi((y - mean_i) / std_i) over a
    candidate set (Wang & Jegelka 2017), by its quartiles."""
    lo = jnp.max(mean_M) - 10.0 * jnp.max(std_M)
    hi = jnp.max(mean_M + 10.0 * std_M)

    def quantile(q):
        def step(_, bounds):
            a, b = bounds
            mid = 0.5 * (a + b)
            below = jnp.sum(log_ndtr((mid - mean_M) / std_M)) < math.log(q)
            return jnp.where(below, mid, a), jnp.where(below, b, mid)

        a, b = jax.lax.fori_loop(0, 80, step, (lo, hi))
        return 0.5 * (a + b)

    q25, q50, q75 = quantile(0.25), quantile(0.5), quantile(0.75)
    beta = (q75 - q25) / (math.log(-math.log(0.25)) - math.log(-math.log(0.75)))
    loc = q50 + beta * math.log(-math.log(0.5))
    u = jax.random.uniform(key, (num_samples,), mean_M.dtype, 1e-6, 1.0 - 1e-6)
    return jnp.maximum(loc - beta * jnp.log(-jnp.log(u)), jnp.max(mean_M) + 1e-6 * jnp.max(std_M))


def thompson_max_values(mean_M, cov_MxM, key, num_samples: int) -> jax.Array:
    """f* samples as maxima of joint posterior draws on the candidate set."""
    L = cholesky_with_jitter(cov_MxM)
    z = jax.random.normal(key, (mean_M.shape[0], num_samples), mean_M.dtype)
    draws = mean_M[:, None] + L @ z
    return jnp.maximum(jnp.max(draws, axis=0), jnp.max(mean_M) + 1e-6)
