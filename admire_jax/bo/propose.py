"""The cost-aware acquisition on padded rows, and its local ascent over the simplex within bounds.

Everything here is jitted with padded shapes; `AcquisitionConfig` is the static part. The host-side
search that calls it (raw samples, then refinement) is `maximize`.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import optax

from admire_jax.bo import acquisition as acq
from admire_jax.bo.cost import cost_weighted, log_cost_weighted
from admire_jax.bo.data import Candidates, TargetRung, TrainingData, mixtures_of, rung_of
from admire_jax.bo.fidelity import split
from admire_jax.bo.gp import (
    GPParams,
    Posterior,
    condition,
    posterior_covariance,
    predict,
    predict_joint,
    predict_pair,
    whitened_cross,
)
from admire_jax.bo.params import child, module

NEG = -1e30


@dataclasses.dataclass(frozen=True)
class AcquisitionConfig:
    """kind: 'mf_mes' | 'mf_kg' | 'mes' | 'gibbon' | 'logei' | 'ucb' (or 'mean': the posterior mean
    at the target, for recommendations); max values by 'gumbel' | 'thompson'."""

    kind: str = "mf_mes"
    max_value_sampler: str = "gumbel"
    num_max_values: int = 8
    ucb_beta: float = 4.0
    thompson_candidates: int = 256

    @property
    def target_only(self) -> bool:
        return self.kind in ("mes", "logei", "ucb", "mean")


@module
class Context:
    """One hyperparameter sample's conditioned GP, max-value samples and incumbent, and the target
    choices (the candidates at the target rung: inputs, which count, posterior means, and for
    'mf_kg' their `whitened_cross`, else an empty [N, 0]) over which the knowledge gradient values
    an observation."""

    post: Posterior = child()
    fstar: jax.Array = child()
    best: jax.Array = child()
    choices: jax.Array = child()
    choice_valid: jax.Array = child()
    choice_mean: jax.Array = child()
    choice_cross: jax.Array = child()


def with_fidelity(W_MxD: jax.Array, s: jax.Array, r: jax.Array) -> jax.Array:
    """Rows [w, s, r]: each mixture at fidelity coordinate s and rung r."""
    M = W_MxD.shape[0]
    return jnp.concatenate([W_MxD, jnp.full((M, 1), s, W_MxD.dtype), jnp.full((M, 1), r, W_MxD.dtype)], axis=1)


def at_target(X_MxF: jax.Array, target: TargetRung) -> jax.Array:
    """The same mixtures at the target rung."""
    return with_fidelity(mixtures_of(X_MxF), target.fidelity, target.rung)


def _one_context(
    params: GPParams,
    data: TrainingData,
    candidates: Candidates,
    target: TargetRung,
    key,
    cfg: AcquisitionConfig,
    has_fantasies: bool,
) -> Context:
    X, y, mask = data.inputs, data.y, data.mask
    if has_fantasies:  # kriging believer: pending points observe their own posterior mean
        believed, _ = predict(condition(params, X, y, data.observed), X)
        y = jnp.where(data.fantasy, believed, y)
    post = condition(params, X, y, mask)
    observed_mean, _ = predict(post, at_target(X, target))
    best = jnp.max(jnp.where(data.observed, observed_mean, NEG))
    Xct, cand_mask = at_target(candidates.inputs, target), candidates.valid
    mean_c, var_c = predict(post, Xct)
    if cfg.max_value_sampler == "thompson":
        top = jnp.argsort(jnp.where(cand_mask, -(mean_c + 2.0 * jnp.sqrt(var_c)), jnp.inf))[: cfg.thompson_candidates]
        mean_j, cov_j = predict_joint(post, Xct[top])
        mean_j = jnp.where(cand_mask[top], mean_j, NEG)
        cov_j = jnp.where(cand_mask[top][:, None] & cand_mask[top][None, :], cov_j, jnp.eye(top.shape[0]))
        fstar = acq.thompson_max_values(mean_j, cov_j, key, cfg.num_max_values)
    elif cfg.max_value_sampler == "gumbel":
        fstar = acq.gumbel_max_values(jnp.where(cand_mask, mean_c, NEG), jnp.sqrt(var_c), key, cfg.num_max_values)
    else:
        raise ValueError(f"unknown max-value sampler {cfg.max_value_sampler!r}; use 'gumbel' or 'thompson'")
    # the choices' solve against the training rows, once per context rather than per evaluation
    cross = whitened_cross(post, Xct) if cfg.kind == "mf_kg" else jnp.zeros((X.shape[0], 0), X.dtype)
    return Context(post, fstar, best, Xct, cand_mask, mean_c, cross)


def _knowledge_gradient(ctx: Context, X, Xt) -> jax.Array:
    """How much a run at each row is expected to raise the best posterior mean at the target, over
    the context's choices and the row's own mixture at the target (see `acq.knowledge_gradient`)."""
    post = ctx.post
    _, mean_t, var_a, _, cov_at = predict_pair(post, X, Xt)
    sd_y = jnp.sqrt(var_a + post.params.noise_at(X))
    cov_CxM = jnp.where(ctx.choice_valid[:, None], posterior_covariance(post, ctx.choices, ctx.choice_cross, X), 0.0)
    mean_C = jnp.where(ctx.choice_valid, ctx.choice_mean, NEG)
    means = jnp.concatenate([jnp.broadcast_to(mean_C[:, None], cov_CxM.shape), mean_t[None]])
    slopes = jnp.concatenate([cov_CxM, cov_at[None]]) / sd_y
    return acq.knowledge_gradient(means, slopes)


@partial(jax.jit, static_argnames=("cfg", "has_fantasies"))
def make_contexts(
    params_S: GPParams,
    data: TrainingData,
    candidates: Candidates,
    target: TargetRung,
    key,
    cfg: AcquisitionConfig,
    has_fantasies: bool,
) -> Context:
    """Contexts for every hyperparameter sample (leading axis S); max values are sampled over
    `candidates` at the target rung."""
    S = jax.tree_util.tree_leaves(params_S)[0].shape[0]
    return jax.vmap(lambda p, k: _one_context(p, data, candidates, target, k, cfg, has_fantasies))(
        params_S, jax.random.split(key, S)
    )


def _values_one(ctx: Context, X, target: TargetRung, cost_M, cfg: AcquisitionConfig) -> jax.Array:
    Xt = at_target(X, target)
    if cfg.kind in ("logei", "ucb", "mes", "mean"):
        mean, var = predict(ctx.post, Xt)
        std = jnp.sqrt(var)
        if cfg.kind == "mean":
            return mean
        if cfg.kind == "logei":
            return log_cost_weighted(acq.log_ei(mean, std, ctx.best), cost_M)
        if cfg.kind == "ucb":
            return cost_weighted(acq.ucb(mean, std, cfg.ucb_beta), cost_M)
        return cost_weighted(acq.mes_gain(mean, std, ctx.fstar), cost_M)
    if cfg.kind == "mf_kg":
        return cost_weighted(_knowledge_gradient(ctx, X, Xt), cost_M)
    mean_a, mean_t, var_a, var_t, cov = predict_pair(ctx.post, X, Xt)
    if cfg.kind == "mf_mes":  # what a run returns is noisy: its information is that of y_a, not f_a
        gain = acq.mf_mes_gain(mean_a, var_a + ctx.post.params.noise_at(X), mean_t, var_t, cov, ctx.fstar)
    elif cfg.kind == "gibbon":
        gain = acq.gibbon_gain(mean_a, var_a, ctx.post.params.noise_at(X), mean_t, var_t, cov, ctx.fstar)
    else:
        raise ValueError(f"unknown acquisition {cfg.kind!r}; use 'mf_mes', 'mf_kg', 'mes', 'gibbon', 'logei' or 'ucb'")
    return cost_weighted(gain, cost_M)


def acquisition_values(
    ctx_S: Context, rows: Candidates, target: TargetRung, cost_R, cfg: AcquisitionConfig
) -> jax.Array:
    """Cost-aware acquisition of the rows (each at its own rung), averaged over hyperparameter
    samples; invalid rows (padding, excluded, or off-target for target-only acquisitions) get -1e30."""
    X_MxF, valid_M = rows.inputs, rows.valid
    cost_M = cost_R[rung_of(X_MxF).astype(jnp.int32)]
    vals_SxM = jax.vmap(lambda c: _values_one(c, X_MxF, target, cost_M, cfg))(ctx_S)
    if cfg.kind == "logei":
        vals = jax.nn.logsumexp(vals_SxM, axis=0) - jnp.log(vals_SxM.shape[0])
    else:
        vals = jnp.mean(vals_SxM, axis=0)
    if cfg.target_only:
        valid_M = valid_M & (rung_of(X_MxF) == target.rung)
    return jnp.where(valid_M & jnp.isfinite(vals), vals, NEG)


pool_values = jax.jit(acquisition_values, static_argnames=("cfg",))


def project_to_bounds(v_D: jax.Array, lo_D: jax.Array, hi_D: jax.Array) -> jax.Array:
    """Euclidean projection onto {lo <= w <= hi, sum(w) = 1}: clip(v - tau, lo, hi) with the shift
    tau found by bisection (treated as a constant by autodiff)."""
    a, b = jnp.min(v_D - hi_D) - 1.0, jnp.max(v_D - lo_D) + 1.0

    def step(_, ab):
        a, b = ab
        tau = 0.5 * (a + b)
        over = jnp.sum(jnp.clip(v_D - tau, lo_D, hi_D)) > 1.0
        return jnp.where(over, tau, a), jnp.where(over, b, tau)

    a, b = jax.lax.fori_loop(0, 100, step, jax.lax.stop_gradient((a, b)))
    return jnp.clip(v_D - 0.5 * (a + b), lo_D, hi_D)


project_rows = jax.jit(jax.vmap(project_to_bounds, in_axes=(0, None, None)))


@partial(jax.jit, static_argnames=("cfg", "steps"))
def refine(
    ctx_S: Context,
    starts_PxF,
    lo_D,
    hi_D,
    cost_R,
    target: TargetRung,
    cfg: AcquisitionConfig,
    steps: int,
    learning_rate: float = 0.05,
):
    """Local ascent of the acquisition from each start row [w, s, r] (its mixture stays at its
    rung) by Adam on softmax logits, projected into the bounds; returns the best point seen and
    its value."""
    valid = jnp.ones(1, bool)
    opt = optax.adam(learning_rate)
    num_domains = starts_PxF.shape[1] - 2

    def one(start):
        w0, s, r = split(start, num_domains)

        def objective(z_D):
            w = project_to_bounds(jax.nn.softmax(z_D), lo_D, hi_D)
            rows = Candidates(with_fidelity(w[None], s, r), valid)
            return -acquisition_values(ctx_S, rows, target, cost_R, cfg)[0]

        def step(carry, _):
            z, state, best_z, best_v = carry
            v, g = jax.value_and_grad(objective)(z)
            better = v < best_v
            best_z, best_v = jnp.where(better, z, best_z), jnp.where(better, v, best_v)
            updates, state = opt.update(g, state)
            return (optax.apply_updates(z, updates), state, best_z, best_v), None

        z0 = jnp.log(w0 + 1e-6)
        (z, _, best_z, best_v), _ = jax.lax.scan(step, (z0, opt.init(z0), z0, jnp.inf), None, length=steps)
        v_last = objective(z)
        best_z = jnp.where(v_last < best_v, z, best_z)
        return project_to_bounds(jax.nn.softmax(best_z), lo_D, hi_D), -jnp.minimum(v_last, best_v)

    return jax.vmap(one)(starts_PxF)
