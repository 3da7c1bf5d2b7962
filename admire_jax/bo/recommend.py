"""Recommendation: the mixture with the best posterior mean at the target rung."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from admire_jax.bo import checks
from admire_jax.bo.maximize import maximise, random_mixtures
from admire_jax.bo.propose import AcquisitionConfig
from admire_jax.bo.records import Recommendation

if TYPE_CHECKING:
    from admire_jax.bo.optimizer import Optimizer

POSTERIOR_MEAN = AcquisitionConfig("mean")


def recommend(opt: "Optimizer", candidates: np.ndarray | None = None) -> Recommendation:
    """The best posterior mean at `opt`'s target among `candidates` or (default) over the simplex
    within the bounds: the posterior mean maximised from `raw_samples` random mixtures, compared
    with every observed mixture inside the bounds."""
    if candidates is not None:
        W = checks.mixture_rows(candidates, len(opt.domains), "candidate")
        mean, std = opt.predict(W, opt.target)
        j = int(np.argmax(mean if opt.maximize else -mean))
        return Recommendation(W[j], float(mean[j]), float(std[j]), j)
    version = len(opt.observations)
    with opt.surrogate.numerics():
        ctx = opt.contexts(opt.key(2, version), np.zeros((0, len(opt.domains))))
        raw = random_mixtures(opt.key(3, version), opt.config.raw_samples, opt.lo, opt.hi)
        best, _, _ = maximise(
            ctx,
            POSTERIOR_MEAN,
            raw,
            [opt.target],
            opt.surrogate,
            opt.lo,
            opt.hi,
            opt.rung_costs(),
            opt.target_rung,
            opt.config.num_restarts,
            opt.config.refine_steps,
        )
    seen = np.array([o["mixture"] for o in opt.successes()])
    inside = np.all((seen >= opt.lo - 1e-12) & (seen <= opt.hi + 1e-12), axis=1)
    W = np.concatenate([best[None], seen[inside]])
    mean, std = opt.predict(W, opt.target)
    j = int(np.argmax(mean if opt.maximize else -mean))
    return Recommendation(W[j], float(mean[j]), float(std[j]), None)
