"""What the trainer needs from a model, in one record, so the loop works with any Flax NNX model.

The project's transformer is adapted in `transformer_spec.py`; tests plug in tiny models directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
from flax import nnx

Batch = Mapping[str, jax.Array]  # inputs, targets, loss_mask, segment_ids, positions: [B, L]
LossFn = Callable[[nnx.Module, Batch], tuple[jax.Array, jax.Array]]  # -> (loss_sum, token_count)
LogicalRules = Sequence[tuple[str, Any]]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model family member: how to build it, how to score a batch, how to shard it."""

    name: str
    make_model: Callable[[nnx.Rngs], nnx.Module]
    loss_fn: LossFn
    rules: LogicalRules  # logical axis name -> mesh axis (or tuple of axes, or None)
    non_embedding_params: int  # what size presets are named by
    flops_per_token: Callable[[int], float]  # seq_len -> forward + backward model FLOPs per token
    # (abstract param state, mesh) -> NamedSharding per param; None: flax's get_partition_spec
    param_shardings: Callable[[Any, jax.sharding.Mesh], Any] | None = None
    # mesh -> sharded nnx.Param state to start from (e.g. a pretrained checkpoint); None: random init
    load_params: Callable[[jax.sharding.Mesh], Any] | None = None
    batch_logical_axis: str = "batch"

    def flops_per_step(self, seq_len: int, global_batch: int) -> float:
        """Model FLOPs of one optimiser step over `global_batch` sequences of `seq_len`."""
        return self.flops_per_token(seq_len) * seq_len * global_batch


def batch_partition_spec(spec: ModelSpec, mesh: jax.sharding.Mesh) -> jax.sharding.PartitionSpec:
    """How a [B, L] input batch is split: its batch axis over the mesh axes the rules name."""
    rules = dict(spec.rules)
    axes = rules.get(spec.batch_logical_axis, ("data", "fsdp"))
    if axes is None:
        axes = ()
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    axes = tuple(a for a in axes if a in mesh.axis_names and mesh.shape[a] > 1)
    return jax.sharding.PartitionSpec(axes if axes else None, None)
