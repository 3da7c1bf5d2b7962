"""Acquisition maximisation: over a finite pool of rows, or over (simplex within bounds) x rungs by
scoring random mixtures at every allowed rung and refining the best few by gradient ascent."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.bo.data import Candidates, TargetRung, TrainingData, model_inputs, rung_of
from admire_jax.bo.gp import GPParams
from admire_jax.bo.propose import NEG, AcquisitionConfig, Context, make_contexts, pool_values, project_rows, refine
from admire_jax.bo.surrogate import Surrogate


def random_mixtures(key: jax.Array, n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """n uniform (Dirichlet(1)) mixtures, projected into the bounds."""
    W = jax.random.dirichlet(key, jnp.ones(len(lo)), (n,))
    return np.asarray(project_rows(W, jnp.asarray(lo), jnp.asarray(hi)))


def contexts(
    params: GPParams,
    data: TrainingData,
    candidate_mixtures: np.ndarray,
    target: TargetRung,
    key: jax.Array,
    acquisition: AcquisitionConfig,
) -> Context:
    """The conditioned GP and max-value samples of each hyperparameter sample; max values are
    drawn over `candidate_mixtures` and the mixtures of the data, at the target rung."""
    mask = np.asarray(data.mask)
    mixtures = np.concatenate([candidate_mixtures, np.asarray(data.mixtures)[mask]])
    zeros = np.zeros(len(mixtures))
    candidates = Candidates.padded(model_inputs(mixtures, zeros, zeros))
    return make_contexts(
        params, data, candidates, target, key, cfg=acquisition, has_fantasies=bool(np.asarray(data.fantasy).any())
    )


def best_in_pool(
    ctx: Context,
    rows: np.ndarray,
    excluded: Sequence[int],
    target: TargetRung,
    cost_R: np.ndarray,
    acquisition: AcquisitionConfig,
) -> tuple[int, float]:
    """Index and acquisition value of the best pool row [w, s, r], never one of `excluded`."""
    pool = Candidates.padded(rows)
    valid = np.array(pool.valid)
    valid[list(excluded)] = False
    values = np.asarray(pool_values(ctx, Candidates(pool.inputs, valid), target, cost_R, cfg=acquisition))
    if values.max() <= NEG / 10:
        raise ValueError(f"no pool row can be scored by {acquisition.kind!r} (it needs target-rung rows)")
    j = int(np.argmax(values))
    return j, float(values[j])


def maximise(
    ctx: Context,
    acquisition: AcquisitionConfig,
    raw_mixtures: np.ndarray,
    rungs: Sequence[str],
    surrogate: Surrogate,
    lo: np.ndarray,
    hi: np.ndarray,
    cost_R: np.ndarray,
    target: TargetRung,
    num_restarts: int,
    refine_steps: int,
) -> tuple[np.ndarray, str, float]:
    """The best (mixture, rung, value): raw mixtures scored at every rung of `rungs`, then the
    best `num_restarts` of each rung refined for `refine_steps` steps."""
    rows = np.concatenate([surrogate.inputs(raw_mixtures, [k] * len(raw_mixtures)) for k in rungs])
    values = np.asarray(pool_values(ctx, Candidates.padded(rows), target, cost_R, cfg=acquisition))[: len(rows)]
    top = np.argsort(-values.reshape(len(rungs), len(raw_mixtures)), axis=1)[:, :num_restarts]
    starts = np.concatenate([rows[i * len(raw_mixtures) + top[i]] for i in range(len(rungs))])
    W, v = refine(ctx, starts, lo, hi, cost_R, target, cfg=acquisition, steps=refine_steps)
    W, v = np.asarray(W), np.asarray(v)
    i = int(np.argmax(v))
    return W[i], surrogate.rungs[int(rung_of(starts)[i])], float(v[i])
