"""Input maps for mixtures on the simplex that stay defined (and differentiable) at zero weights.

Real mixtures are sparse, so maps such as log(w) are not usable as is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from admire_jax.bo.params import module


@module
class Identity:
    def __call__(self, w: jax.Array) -> jax.Array:
        return w


@module
class SqrtSimplex:
    """w -> sqrt(w): maps the simplex onto the positive unit sphere (Euclidean distance there is
    sqrt(2) times the Hellinger distance between mixtures)."""

    eps: float = 1e-12

    def __call__(self, w: jax.Array) -> jax.Array:
        return jnp.sqrt(jnp.maximum(w, 0.0) + self.eps)


@module
class LogRatio:
    """Centred log-ratio with a pseudo-count: clr(w + c), finite at w = 0."""

    pseudo_count: float = 1e-2

    def __call__(self, w: jax.Array) -> jax.Array:
        z = jnp.log(jnp.maximum(w, 0.0) + self.pseudo_count)
        return z - jnp.mean(z)
