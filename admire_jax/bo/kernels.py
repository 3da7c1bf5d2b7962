"""Covariance kernels as parameter pytrees (tinygp style).

A kernel defines `evaluate(x1, x2)` on one pair of points; Gram matrices come from vmap.
Write your own by subclassing `Kernel`, decorating with `@module` and declaring parameters
with `param(...)` (see docs/bo.md, "Your own kernel").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from admire_jax.bo.params import POSITIVE, child, lengthscale_prior, module, param, scale_prior


def safe_norm(x: jax.Array) -> jax.Array:
    """Euclidean norm whose gradient is finite (zero) at x = 0."""
    sq = jnp.sum(x * x)
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


class Kernel:
    """Base class: subclasses implement `evaluate` on a single pair of points."""

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        raise NotImplementedError

    def __call__(self, X1_NxD: jax.Array, X2_MxD: jax.Array | None = None) -> jax.Array:
        """Gram matrix [N, M] (X2 defaults to X1)."""
        X2_MxD = X1_NxD if X2_MxD is None else X2_MxD
        row = jax.vmap(self.evaluate, in_axes=(None, 0))
        return jax.vmap(row, in_axes=(0, None))(X1_NxD, X2_MxD)

    def diag(self, X_NxD: jax.Array) -> jax.Array:
        return jax.vmap(self.evaluate)(X_NxD, X_NxD)

    def __add__(self, other: "Kernel") -> "Kernel":
        return Sum(self, other)

    def __mul__(self, other: "Kernel") -> "Kernel":
        return Product(self, other)


class Stationary(Kernel):
    """k(x1, x2) = profile(|x1 - x2| / lengthscale), with ARD lengthscales."""

    def profile(self, r: jax.Array) -> jax.Array:
        raise NotImplementedError

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.profile(safe_norm((x1 - x2) / self.lengthscale))


@module
class RBF(Stationary):
    lengthscale: jax.Array = param(POSITIVE, lengthscale_prior)
    priors: tuple = ()

    def profile(self, r: jax.Array) -> jax.Array:
        return jnp.exp(-0.5 * r * r)


@module
class Matern12(Stationary):
    lengthscale: jax.Array = param(POSITIVE, lengthscale_prior)
    priors: tuple = ()

    def profile(self, r: jax.Array) -> jax.Array:
        return jnp.exp(-r)


@module
class Matern32(Stationary):
    lengthscale: jax.Array = param(POSITIVE, lengthscale_prior)
    priors: tuple = ()

    def profile(self, r: jax.Array) -> jax.Array:
        a = math.sqrt(3.0) * r
        return (1.0 + a) * jnp.exp(-a)


@module
class Matern52(Stationary):
    lengthscale: jax.Array = param(POSITIVE, lengthscale_prior)
    priors: tuple = ()

    def profile(self, r: jax.Array) -> jax.Array:
        a = math.sqrt(5.0) * r
        return (1.0 + a + a * a / 3.0) * jnp.exp(-a)


@module
class Additive(Kernel):
    """First-order additive kernel (Duvenaud et al. 2011): k(x, x') = sum_d v_d * p(|x_d - x'_d| / l_d),
    where p is the profile of the stationary kernel `base` and l = base.lengthscale, v = variance
    are one per dimension.

    Why: a language model's loss on a data mixture is close to a sum of per-domain effects (each
    domain's loss depends mostly on its own weight). A full ARD kernel must learn that structure
    from many runs; this one assumes it, so it generalises from far fewer. A prior on `variance`
    that favours small values lets irrelevant domains switch off (see `models.additive_matern52`).
    """

    base: Stationary = child()
    variance: jax.Array = param(POSITIVE, scale_prior)
    priors: tuple = ()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        r_D = jnp.abs(x1 - x2) / self.base.lengthscale
        return jnp.sum(self.variance * self.base.profile(r_D))


@module
class Scale(Kernel):
    """variance * kernel; `priors` may override the variance's prior, e.g. to let a term switch off."""

    kernel: Kernel = child()
    variance: jax.Array = param(POSITIVE, scale_prior)
    priors: tuple = ()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.variance * self.kernel.evaluate(x1, x2)


@module
class Sum(Kernel):
    k1: Kernel = child()
    k2: Kernel = child()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.k1.evaluate(x1, x2) + self.k2.evaluate(x1, x2)


@module
class Product(Kernel):
    k1: Kernel = child()
    k2: Kernel = child()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.k1.evaluate(x1, x2) * self.k2.evaluate(x1, x2)


@module
class Transformed(Kernel):
    """A kernel on transformed inputs: k(t(x1), t(x2)), e.g. on square-root mixture weights."""

    transform: object = child()
    kernel: Kernel = child()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.kernel.evaluate(self.transform(x1), self.transform(x2))
