"""Exact Gaussian process on padded data, meant to run in float64 (see `x64`).

Observations are padded to a fixed bucket size with a mask so that jitted code is reused as
data grows: padded rows get unit prior variance and no correlation, which leaves the marginal
likelihood and the posterior of the real rows unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular
from threadpoolctl import ThreadpoolController

from admire_jax.bo.fidelity import split
from admire_jax.bo.kernels import Kernel
from admire_jax.bo.params import POSITIVE, REAL, child, module, noise_prior, param

MAX_JITTER_TRIES = 10


@contextlib.contextmanager
def x64() -> Iterator[None]:
    """Float64 for the GP code only: jax.enable_x64 is a thread-local, scoped switch (jax>=0.10),
    so the rest of the process (e.g. a trainer in the same test process) stays in float32."""
    with jax.enable_x64(True):
        yield


_BLAS_CONTROLLER = None


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """At most n threads in the BLAS behind jax's CPU Cholesky and triangular solves inside the
    block (None: the library default). On a loaded machine a multi-threaded OpenBLAS can make the
    triangular solves of a GP fit many times slower (threads spin-waiting for descheduled peers)."""
    global _BLAS_CONTROLLER
    if n is None:
        yield
        return
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    with _BLAS_CONTROLLER.limit(limits=n, user_api="blas"):
        yield


@jax.custom_jvp
def cholesky_with_jitter(K_NxN: jax.Array) -> jax.Array:
    """Cholesky factor of K, adding diagonal jitter that grows tenfold until the factor is finite.

    Inside jit a failed Cholesky yields NaNs instead of raising, so the retry is a traced loop.
    The derivative treats the jitter as a constant.
    """
    eye = jnp.eye(K_NxN.shape[-1], dtype=K_NxN.dtype)
    scale = jnp.mean(jnp.diag(K_NxN))

    def failed(state):
        L, tries = state
        return jnp.logical_not(jnp.all(jnp.isfinite(L))) & (tries < MAX_JITTER_TRIES)

    def retry(state):
        _, tries = state
        jitter = scale * 1e-9 * jnp.power(10.0, tries.astype(K_NxN.dtype))
        return jnp.linalg.cholesky(K_NxN + jitter * eye), tries + 1

    L, _ = jax.lax.while_loop(failed, retry, (jnp.linalg.cholesky(K_NxN), jnp.zeros((), jnp.int32)))
    return L


@cholesky_with_jitter.defjvp
def _cholesky_jvp(primals, tangents):
    (K,), (dK,) = primals, tangents
    L = cholesky_with_jitter(K)
    tmp = solve_triangular(L, dK, lower=True)
    S = solve_triangular(L, tmp.T, lower=True).T
    phi = jnp.tril(S) - 0.5 * jnp.diag(jnp.diag(S))
    return L, L @ phi


@module
class GPParams:
    """Hyperparameters: kernel, per-rung observation noise above a floor, per-rung constant mean.
    `priors` may override or add priors, e.g. (("mean", Prior("Normal", (0.0, 25.0))),)."""

    kernel: Kernel = child()
    noise: jax.Array = param(POSITIVE, noise_prior)  # [R], added to noise_floor
    mean: jax.Array = param(REAL)  # [R]
    num_domains: int = 0
    noise_floor: float = 1e-6
    priors: tuple = ()

    def rung(self, X_NxF: jax.Array) -> jax.Array:
        return jax.vmap(lambda x: split(x, self.num_domains)[2])(X_NxF).astype(jnp.int32)

    def noise_at(self, X_NxF: jax.Array) -> jax.Array:
        return self.noise_floor + self.noise[self.rung(X_NxF)]

    def mean_at(self, X_NxF: jax.Array) -> jax.Array:
        return self.mean[self.rung(X_NxF)]


def prior_covariance(params: GPParams, X_NxF: jax.Array, mask_N: jax.Array) -> jax.Array:
    """Noisy prior covariance of the observations; padded rows become identity rows."""
    both = mask_N[:, None] & mask_N[None, :]
    K = jnp.where(both, params.kernel(X_NxF), 0.0)
    return K + jnp.diag(jnp.where(mask_N, params.noise_at(X_NxF), 1.0))


@module
class Posterior:
    """Conditioned GP: everything needed to predict, reused across acquisition evaluations."""

    params: GPParams = child()
    X: jax.Array = child()
    mask: jax.Array = child()
    L: jax.Array = child()
    alpha: jax.Array = child()


def condition(params: GPParams, X_NxF: jax.Array, y_N: jax.Array, mask_N: jax.Array) -> Posterior:
    L = cholesky_with_jitter(prior_covariance(params, X_NxF, mask_N))
    resid = jnp.where(mask_N, y_N - params.mean_at(X_NxF), 0.0)
    alpha = solve_triangular(L.T, solve_triangular(L, resid, lower=True), lower=False)
    return Posterior(params, X_NxF, mask_N, L, alpha)


@jax.custom_vjp
def gaussian_log_density(K_NxN: jax.Array, resid_N: jax.Array, n: jax.Array) -> jax.Array:
    """log N(resid | 0, K) over n real rows (padded rows are identity rows with zero residual)."""
    return _gaussian_log_density_fwd(K_NxN, resid_N, n)[0]


def _gaussian_log_density_fwd(K_NxN, resid_N, n):
    L = cholesky_with_jitter(K_NxN)
    alpha = cho_solve((L, True), resid_N)
    value = -0.5 * jnp.dot(resid_N, alpha) - jnp.sum(jnp.log(jnp.diag(L))) - 0.5 * n * jnp.log(2.0 * jnp.pi)
    return value, (L, alpha, n)


def _gaussian_log_density_bwd(saved, g):
    """d/dK = (alpha alpha^T - K^-1) / 2 and d/dresid = -alpha, with K^-1 from the one factor L:
    the textbook gradient, much cheaper than differentiating through the Cholesky itself."""
    L, alpha, n = saved
    K_inv = cho_solve((L, True), jnp.eye(L.shape[0], dtype=L.dtype))
    dK = 0.5 * g * (jnp.outer(alpha, alpha) - K_inv)
    return dK, -g * alpha, -0.5 * g * jnp.log(2.0 * jnp.pi) * jnp.ones_like(n)


gaussian_log_density.defvjp(_gaussian_log_density_fwd, _gaussian_log_density_bwd)


def log_marginal_likelihood(params: GPParams, X_NxF: jax.Array, y_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    resid = jnp.where(mask_N, y_N - params.mean_at(X_NxF), 0.0)
    n = jnp.sum(mask_N).astype(resid.dtype)
    return gaussian_log_density(prior_covariance(params, X_NxF, mask_N), resid, n)


def _cross(post: Posterior, Xs_MxF: jax.Array) -> tuple[jax.Array, jax.Array]:
    Ks = jnp.where(post.mask[:, None], post.params.kernel(post.X, Xs_MxF), 0.0)
    return Ks, solve_triangular(post.L, Ks, lower=True)


def predict(post: Posterior, Xs_MxF: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance of the latent function at Xs."""
    Ks, V = _cross(post, Xs_MxF)
    mean = post.params.mean_at(Xs_MxF) + Ks.T @ post.alpha
    var = post.params.kernel.diag(Xs_MxF) - jnp.sum(V * V, axis=0)
    return mean, jnp.maximum(var, 1e-12)


def predict_pair(post: Posterior, Xa_MxF: jax.Array, Xb_MxF: jax.Array):
    """Joint posterior moments of (f(xa_i), f(xb_i)) for each i: means, variances, covariance."""
    M = Xa_MxF.shape[0]
    Ks, V = _cross(post, jnp.concatenate([Xa_MxF, Xb_MxF]))
    mean = jnp.concatenate([post.params.mean_at(Xa_MxF), post.params.mean_at(Xb_MxF)]) + Ks.T @ post.alpha
    kern = post.params.kernel
    var_a = kern.diag(Xa_MxF) - jnp.sum(V[:, :M] ** 2, axis=0)
    var_b = kern.diag(Xb_MxF) - jnp.sum(V[:, M:] ** 2, axis=0)
    cov = jax.vmap(kern.evaluate)(Xa_MxF, Xb_MxF) - jnp.sum(V[:, :M] * V[:, M:], axis=0)
    return mean[:M], mean[M:], jnp.maximum(var_a, 1e-12), jnp.maximum(var_b, 1e-12), cov


def predict_joint(post: Posterior, Xs_MxF: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior mean [M] and joint covariance [M, M] of the latent function."""
    Ks, V = _cross(post, Xs_MxF)
    mean = post.params.mean_at(Xs_MxF) + Ks.T @ post.alpha
    return mean, post.params.kernel(Xs_MxF) - V.T @ V


def whitened_cross(post: Posterior, Xs_MxF: jax.Array) -> jax.Array:
    """L^-1 K(X, Xs) [N, M], padded training rows zero: with it the posterior covariance of Xs with
    any other inputs costs no further solve against the training rows (`posterior_covariance`)."""
    return _cross(post, Xs_MxF)[1]


def posterior_covariance(post: Posterior, Xa_AxF: jax.Array, Va_NxA: jax.Array, Xb_BxF: jax.Array) -> jax.Array:
    """Posterior covariance [A, B] of the latent function between Xa, whose `whitened_cross` Va is
    computed once and reused, and Xb."""
    return post.params.kernel(Xa_AxF, Xb_BxF) - Va_NxA.T @ whitened_cross(post, Xb_BxF)
