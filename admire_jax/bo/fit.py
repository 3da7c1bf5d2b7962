"""Hyperparameter fitting: MAP by L-BFGS (optax) from several starts, or NUTS (numpyro).

Both return a `GPParams` whose leaves carry a leading sample axis S (S = 1 for MAP), so every
acquisition can average over hyperparameter samples the same way.
"""
from __future__ import annotations

from functools import partial

import gin
import jax
import jax.numpy as jnp
import optax
from numpyro.infer import MCMC, NUTS

from admire_jax.bo.gp import GPParams, log_marginal_likelihood
from admire_jax.bo.params import constrain, log_abs_det_jacobian, log_prior, unconstrain


def log_posterior(raw: GPParams, X, y, mask, jacobian: bool) -> jax.Array:
    params = constrain(raw)
    lp = log_marginal_likelihood(params, X, y, mask) + log_prior(params)
    return lp + log_abs_det_jacobian(raw) if jacobian else lp


def _lbfgs(loss, raw0, max_iters: int, tol: float):
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def cond(carry):
        _, state, i = carry
        grad = optax.tree_utils.tree_get(state, "grad")
        return (i == 0) | ((i < max_iters) & (optax.tree_utils.tree_norm(grad) > tol))

    def body(carry):
        raw, state, i = carry
        value, grad = value_and_grad(raw, state=state)
        updates, state = solver.update(grad, state, raw, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(raw, updates), state, i + 1

    raw, _, _ = jax.lax.while_loop(cond, body, (raw0, solver.init(raw0), 0))
    return raw


@partial(jax.jit, static_argnames=("num_restarts", "max_iters"))
def _fit_map(init: GPParams, warm: GPParams, X, y, mask, key, num_restarts: int, max_iters: int, tol: float):
    n = jnp.maximum(jnp.sum(mask), 1)
    loss = lambda raw: -log_posterior(raw, X, y, mask, jacobian=False) / n
    raw_init, raw_warm = unconstrain(init), unconstrain(warm)
    leaves, treedef = jax.tree_util.tree_flatten(raw_init)
    keys = jax.random.split(key, len(leaves))
    jitter = [jax.random.normal(k, (num_restarts,) + leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)]
    # start 0: warm start (previous fit), start 1: default init, others: default init + N(0, 1)
    scale = jnp.arange(num_restarts) >= 2
    starts = jax.tree_util.tree_unflatten(treedef, [
        jnp.where(jnp.arange(num_restarts).reshape((-1,) + (1,) * leaf.ndim) == 0, w[None], leaf[None] + j * scale.reshape((-1,) + (1,) * leaf.ndim))
        for leaf, w, j in zip(leaves, jax.tree_util.tree_leaves(raw_warm), jitter)])
    final = jax.vmap(lambda r: _lbfgs(loss, r, max_iters, tol))(starts)
    losses = jax.vmap(loss)(final)
    best = jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf))
    return jax.tree_util.tree_map(lambda a: a[best][None], constrain(final))


@gin.configurable
def fit_map(init: GPParams, X, y, mask, key, warm: GPParams | None = None, num_restarts: int = 3,
            max_iters: int = 100, tol: float = 1e-5) -> GPParams:
    """MAP hyperparameters (marginal likelihood + priors), best of `num_restarts` L-BFGS runs."""
    warm = init if warm is None else warm
    return _fit_map(init, warm, X, y, mask, key, num_restarts=max(num_restarts, 1), max_iters=max_iters, tol=tol)


@gin.configurable
def fit_nuts(init: GPParams, X, y, mask, key, warm: GPParams | None = None, num_warmup: int = 200,
             num_samples: int = 200, num_hyper_samples: int = 16, max_tree_depth: int = 6) -> GPParams:
    """Posterior samples of the hyperparameters by NUTS, started at the MAP estimate and thinned
    to `num_hyper_samples` for the acquisition (trees are capped at depth `max_tree_depth`)."""
    key_map, key_mcmc = jax.random.split(key)
    start = jax.tree_util.tree_map(lambda a: a[0], fit_map(init, X, y, mask, key_map, warm=warm))
    potential = lambda raw: -log_posterior(raw, X, y, mask, jacobian=True)
    mcmc = MCMC(NUTS(potential_fn=potential, max_tree_depth=max_tree_depth), num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(key_mcmc, init_params=unconstrain(start))
    raw = mcmc.get_samples()
    keep = jnp.linspace(0, num_samples - 1, min(num_hyper_samples, num_samples)).astype(jnp.int32)
    return jax.vmap(constrain)(jax.tree_util.tree_map(lambda a: a[keep], raw))
