"""Host numpy batches -> global, sharded jax arrays (single- and multi-process alike)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np

from admire_jax.train.step import BATCH_DTYPES, BATCH_KEYS


def global_batch_from_local(local: Mapping[str, np.ndarray], sharding: jax.sharding.Sharding) -> dict:
    """Each process passes its own rows ([global_batch / process_count, L]); jax joins them."""
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(local[k], dtype=BATCH_DTYPES.get(k, np.int32)))
        for k in BATCH_KEYS
    }


def global_batch_from_full(full: Mapping[str, np.ndarray], sharding: jax.sharding.Sharding) -> dict:
    """Every process holds the whole batch (e.g. fixed validation tokens); each device takes its part."""
    out = {}
    for k in BATCH_KEYS:
        x = np.asarray(full[k], dtype=BATCH_DTYPES.get(k, np.int32))
        out[k] = jax.make_array_from_callback(x.shape, sharding, lambda idx, x=x: x[idx])
    return out
