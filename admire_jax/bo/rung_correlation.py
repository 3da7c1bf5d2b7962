"""How much a rung says about the target: the model's correlation between the two rungs' latent values
across a set of mixtures.

For mixtures w_1..w_N and rungs a, b the GP's prior (under the fitted hyperparameters) gives
E[sum_i (f_a(w_i) - mean_a)(f_b(w_i) - mean_b)] = tr(C K_ab C), with K_ab the cross-covariance of the
two rungs' rows and C the centring matrix. The correlation reported is
tr(C K_ab C) / sqrt(tr(C K_aa C) tr(C K_bb C)): the correlation, across the mixtures, that the model
expects between the rungs' responses. It is comparable between fidelity models (the AR1 factor is
not: it depends on the rungs' scales) and with the rank correlation of a table's rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.bo.kernels import Kernel


def _centred_trace(K_NxN: jax.Array) -> jax.Array:
    return jnp.trace(K_NxN) - jnp.sum(K_NxN) / K_NxN.shape[0]


def latent_correlation(kernel: Kernel, rows_a_NxF: jax.Array, rows_b_NxF: jax.Array) -> jax.Array:
    """The correlation across mixtures between the latent values at `rows_a` and `rows_b` (the same
    mixtures at two rungs, rows [w, s, r])."""
    cross = _centred_trace(kernel(rows_a_NxF, rows_b_NxF))
    var_a = _centred_trace(kernel(rows_a_NxF, rows_a_NxF))
    var_b = _centred_trace(kernel(rows_b_NxF, rows_b_NxF))
    return cross / jnp.sqrt(jnp.maximum(var_a * var_b, 1e-300))


def rung_correlations(kernels_S: Kernel, rows_by_rung: dict[str, np.ndarray], target: str) -> dict[str, float]:
    """Per rung other than `target`: its latent correlation with the target, averaged over the
    hyperparameter samples of `kernels_S` (a kernel pytree with a leading sample axis).
    `rows_by_rung[label]` holds the same N >= 2 mixtures as model rows at each rung."""
    target_rows = jnp.asarray(rows_by_rung[target])
    if len(np.unique(np.asarray(target_rows), axis=0)) < 2:
        raise ValueError("a correlation across mixtures needs at least two distinct mixtures")
    out = {}
    for label, rows in rows_by_rung.items():
        if label != target:
            rows = jnp.asarray(rows)
            per_sample = jax.vmap(lambda k: latent_correlation(k, rows, target_rows))(kernels_S)
            out[label] = float(jnp.mean(per_sample))
    return out
