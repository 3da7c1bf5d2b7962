"""Choosing the fidelity model from the data: leave-one-out predictive density, with a margin.

No one fidelity model is right for every ladder of rungs: the linear-truncated kernel presumes that
a cheap rung is the target plus a bias, the AR1 chain that each rung is a proxy for the next, the
AR1 star that every rung is a proxy for the cheapest; and an AR1 prior on the factors near 1 lets a
few target rows confirm a strong link to the cheap rungs, where one with its mode at 0 lets them
show that there is none. With `OptimizerConfig.model = 'auto'` the surrogate fits each candidate at
every full refit once the target has MIN_TARGET_ROWS rows (before that the first candidate is used)
and keeps the one whose GP predicts the target's rows best when each is left out (the closed-form
leave-one-out log density, Rasmussen & Williams 2006, eq. 5.10-5.12): the recommendation is made at
the target, so a model is judged on the target rows it did not see, not on the cheap rows, which
every candidate predicts alike and which outnumber them. A switch from the model in use needs a lead of
`margin` nats in total: it re-ranks the target's rows, so it needs clear evidence, not noise.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve

from admire_jax.bo.data import TrainingData
from admire_jax.bo.gp import GPParams, cholesky_with_jitter, prior_covariance

MIN_TARGET_ROWS = 3  # target rows before candidates are compared


@jax.jit
def loo_log_density(params_S: GPParams, data: TrainingData) -> jax.Array:
    """Sum over the target's observed rows of log p(y_i | every other row), averaged over the
    hyperparameter samples (leading axis of `params_S`). The surrogate calls it once the target has
    MIN_TARGET_ROWS rows."""

    def one(params: GPParams) -> jax.Array:
        K = prior_covariance(params, data.inputs, data.observed)
        L = cholesky_with_jitter(K)
        K_inv = cho_solve((L, True), jnp.eye(K.shape[0], dtype=K.dtype))
        resid = jnp.where(data.observed, data.y - params.mean_at(data.inputs), 0.0)
        alpha = K_inv @ resid
        var = 1.0 / jnp.diag(K_inv)
        log_p = -0.5 * jnp.log(2 * jnp.pi * var) - 0.5 * alpha**2 * var
        at_target = data.observed & (params.rung(data.inputs) == params.noise.shape[0] - 1)
        return jnp.sum(jnp.where(at_target, log_p, 0.0))

    return jnp.mean(jax.vmap(one)(params_S))


@dataclasses.dataclass
class ModelChoice:
    """The fidelity model in use among `candidates`, and the last leave-one-out scores."""

    candidates: tuple[str, ...]
    margin: float
    current: str = ""
    scores: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.current = self.current or self.candidates[0]

    def update(self, scores: dict[str, float]) -> str:
        """Keeps the model in use unless another's score beats it by more than the margin."""
        self.scores = dict(scores)
        best = max(scores, key=scores.get)
        if scores[best] - scores[self.current] > self.margin:
            self.current = best
        return self.current
