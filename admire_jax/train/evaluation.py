"""Per-domain validation loss on each domain's fixed validation tokens: the optimiser's objective."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np

from admire_jax.train.host_data import global_batch_from_full
from admire_jax.train.step import BATCH_KEYS


def pad_rows(arrays: Mapping[str, np.ndarray], multiple: int) -> dict[str, np.ndarray]:
    """Pad [N, L] arrays to a multiple of `multiple` rows with fully masked rows (no loss)."""
    n = len(arrays["inputs"])
    missing = (-n) % multiple
    if not missing:
        return {k: np.asarray(arrays[k]) for k in BATCH_KEYS}
    return {
        k: np.concatenate([np.asarray(arrays[k]), np.zeros((missing,) + arrays[k].shape[1:], arrays[k].dtype)])
        for k in BATCH_KEYS
    }


def validation_losses(
    eval_step: jax.stages.Compiled,
    params,
    validation: Mapping[str, Mapping[str, np.ndarray]],
    eval_batch: int,
    sharding: jax.sharding.Sharding,
) -> dict[str, float]:
    """Token-weighted mean cross-entropy (nats/token) of each domain's validation set."""
    losses = {}
    for domain, arrays in validation.items():
        padded = pad_rows(arrays, eval_batch)
        total, count = 0.0, 0.0
        for start in range(0, len(padded["inputs"]), eval_batch):
            chunk = {k: v[start : start + eval_batch] for k, v in padded.items()}
            loss_sum, tokens = eval_step(params, global_batch_from_full(chunk, sharding))
            total, count = total + float(loss_sum), count + float(tokens)
        if count == 0:
            raise ValueError(f"validation set of domain {domain!r} has no unmasked tokens")
        losses[domain] = total / count
    return losses
