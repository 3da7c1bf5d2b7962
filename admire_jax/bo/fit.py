"""Hyperparameter fitting: MAP by L-BFGS (optax) from several starts, or NUTS (numpyro).

Both return a `GPParams` whose leaves carry a leading sample axis S (S = 1 for MAP), so every
acquisition can average over hyperparameter samples the same way.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS

from admire_jax.bo.data import TrainingData
from admire_jax.bo.gp import GPParams, log_marginal_likelihood
from admire_jax.bo.params import constrain, log_abs_det_jacobian, log_prior, unconstrain


def log_posterior(raw: GPParams, X, y, mask, jacobian: bool) -> jax.Array:
    params = constrain(raw)
    lp = log_marginal_likelihood(params, X, y, mask) + log_prior(params)
    return lp + log_abs_det_jacobian(raw) if jacobian else lp


def _lbfgs(loss, raw0, max_iters, tol, ftol):
    """L-BFGS until the gradient norm is <= tol, the relative decrease of the loss in one step is
    positive but <= ftol (scipy's L-BFGS-B rule), or max_iters steps (all traced)."""
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def cond(carry):
        _, state, i, previous = carry
        grad, value = optax.tree_utils.tree_get(state, "grad"), optax.tree_utils.tree_get(state, "value")
        small_grad = optax.tree_utils.tree_norm(grad) <= tol
        decrease = previous - value  # a failed line search (no decrease) is not convergence
        stalled = (decrease > 0) & (decrease <= ftol * jnp.maximum(jnp.maximum(jnp.abs(previous), jnp.abs(value)), 1.0))
        return (i == 0) | ((i < max_iters) & ~small_grad & ~stalled)

    def body(carry):
        raw, state, i, _ = carry
        value, grad = value_and_grad(raw, state=state)
        updates, state = solver.update(grad, state, raw, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(raw, updates), state, i + 1, value

    inf = jnp.asarray(jnp.inf, raw0.dtype)
    raw, _, _, _ = jax.lax.while_loop(cond, body, (raw0, solver.init(raw0), 0, inf))
    return raw


@jax.jit
def _fit_one(init: GPParams, start: GPParams, data: TrainingData, max_iters: int, tol: float, ftol: float):
    """One L-BFGS run from `start` (constrained); returns the fitted parameters and the loss."""
    n = jnp.maximum(jnp.sum(data.mask), 1)
    _, unravel = ravel_pytree(unconstrain(init))  # one flat vector: far fewer ops per L-BFGS step
    loss = lambda flat: -log_posterior(unravel(flat), data.inputs, data.y, data.mask, jacobian=False) / n
    final = _lbfgs(loss, ravel_pytree(unconstrain(start))[0], max_iters, tol, ftol)
    value = loss(final)
    return constrain(unravel(final)), jnp.where(jnp.isfinite(value), value, jnp.inf)


@jax.jit
def _perturbed(init: GPParams, key) -> GPParams:
    """A random restart: the default initialisation plus N(0, 1) in unconstrained space."""
    flat, unravel = ravel_pytree(unconstrain(init))
    return constrain(unravel(flat + jax.random.normal(key, flat.shape, flat.dtype)))


def fit_map(
    init: GPParams,
    data: TrainingData,
    key: jax.Array,
    warm: GPParams | None = None,
    num_restarts: int = 3,
    max_iters: int = 100,
    tol: float = 1e-5,
    ftol: float = 0.0,
) -> GPParams:
    """MAP hyperparameters (marginal likelihood + priors): the best of L-BFGS runs from the warm
    start (if given) and `num_restarts` more starts (the default initialisation, then random
    perturbations of it). Starts run one after another through one compiled program.
    A run stops at `max_iters` steps, a gradient norm <= `tol`, or (if ftol > 0) a relative loss
    decrease in (0, ftol] in one step (the loss is the negative log posterior per observation).
    ftol is off by default: optax's line search can make tiny first steps, and stopping there
    left fits far from the optimum."""
    starts = ([] if warm is None else [warm]) + [init]
    if num_restarts > 1:
        starts += [_perturbed(init, k) for k in jax.random.split(key, num_restarts - 1)]
    starts = starts[: (warm is not None) + num_restarts] or [init]
    best, best_loss = None, np.inf
    for start in starts:
        params, loss = _fit_one(init, start, data, max_iters, tol, ftol)
        if best is None or float(loss) < best_loss:
            best, best_loss = params, float(loss)
    if not np.isfinite(best_loss):  # every start diverged: keep usable (warm or initial) values
        best = warm if warm is not None else init
    return jax.tree_util.tree_map(lambda a: a[None], best)


def fit_nuts(
    init: GPParams,
    data: TrainingData,
    key: jax.Array,
    warm: GPParams | None = None,
    num_warmup: int = 200,
    num_samples: int = 200,
    num_hyper_samples: int = 16,
    max_tree_depth: int = 6,
    map_options: Mapping[str, float] | None = None,
) -> GPParams:
    """Posterior samples of the hyperparameters by NUTS, started at the MAP estimate (`fit_map`
    with `map_options`) and thinned to `num_hyper_samples` for the acquisition (trees are capped
    at depth `max_tree_depth`)."""
    key_map, key_mcmc = jax.random.split(key)
    start = jax.tree_util.tree_map(lambda a: a[0], fit_map(init, data, key_map, warm=warm, **(map_options or {})))
    potential = lambda raw: -log_posterior(raw, data.inputs, data.y, data.mask, jacobian=True)
    mcmc = MCMC(
        NUTS(potential_fn=potential, max_tree_depth=max_tree_depth),
        num_warmup=num_warmup,
        num_samples=num_samples,
        progress_bar=False,
    )
    mcmc.run(key_mcmc, init_params=unconstrain(start))
    raw = mcmc.get_samples()
    keep = jnp.linspace(0, num_samples - 1, min(num_hyper_samples, num_samples)).astype(jnp.int32)
    return jax.vmap(constrain)(jax.tree_util.tree_map(lambda a: a[keep], raw))
