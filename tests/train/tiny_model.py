"""A tiny sharded language model and a pure-function-of-step data source for the trainer tests.

The trainer only needs a ModelSpec; this stands in for the project's transformer so the loop,
checkpointing and sharding can be tested in seconds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from admire_jax.train.model_spec import ModelSpec

VOCAB, WIDTH, HIDDEN = 32, 16, 32
RULES = (("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"), ("mlp", "tensor"))


class TinyLM(nnx.Module):
    """Embedding -> one gated MLP block -> output projection; every weight has logical axis names."""

    def __init__(self, rngs: nnx.Rngs):
        def param(shape, axes, scale):
            init = nnx.with_partitioning(nnx.initializers.normal(scale), axes)
            return nnx.Param(init(rngs.params(), shape))

        self.embed = param((VOCAB, WIDTH), ("vocab", "embed"), 1.0)
        self.w_in = param((WIDTH, HIDDEN), ("embed", "mlp"), WIDTH**-0.5)
        self.w_out = param((HIDDEN, WIDTH), ("mlp", "embed"), HIDDEN**-0.5)
        self.unembed = param((WIDTH, VOCAB), ("embed", "vocab"), 0.02)

    def __call__(self, inputs_BxL, positions_BxL, segment_ids_BxL):
        x_BxLxD = self.embed[...][inputs_BxL]
        h_BxLxF = jax.nn.gelu(x_BxLxD @ self.w_in[...])
        return x_BxLxD + h_BxLxF @ self.w_out[...]


def tiny_loss(model: TinyLM, batch):
    h_BxLxD = model(batch["inputs"], batch["positions"], batch["segment_ids"])
    logits_BxLxV = h_BxLxD @ model.unembed[...]
    nll_BxL = -jnp.take_along_axis(jax.nn.log_softmax(logits_BxLxV), batch["targets"][..., None], -1)[..., 0]
    return jnp.sum(nll_BxL * batch["loss_mask"]), jnp.sum(batch["loss_mask"])


def tiny_spec(name: str = "tiny") -> ModelSpec:
    non_embedding = 2 * WIDTH * HIDDEN
    return ModelSpec(
        name=name,
        make_model=TinyLM,
        loss_fn=tiny_loss,
        rules=RULES,
        non_embedding_params=non_embedding,
        flops_per_token=lambda seq_len: 6.0 * (non_embedding + WIDTH * VOCAB),
    )


def sequences(seed: int, rows: int, seq_len: int, stride: int) -> dict[str, np.ndarray]:
    """Arithmetic token sequences (x, x+s, x+2s, ... mod VOCAB): learnable, fixed by `seed`."""
    start = np.random.default_rng(seed).integers(0, VOCAB, size=(rows, 1))
    tokens = (start + stride * np.arange(seq_len + 1)) % VOCAB
    return {
        "inputs": tokens[:, :-1].astype(np.int32),
        "targets": tokens[:, 1:].astype(np.int32),
        "loss_mask": np.ones((rows, seq_len), np.float32),
        "segment_ids": np.ones((rows, seq_len), np.int32),
        "positions": np.broadcast_to(np.arange(seq_len, dtype=np.int32), (rows, seq_len)).copy(),
    }


class StepLoader:
    """Batch of step k depends only on k (and which process asks): what exact resume relies on."""

    def __init__(self, global_batch: int, seq_len: int, process_index: int = 0, process_count: int = 1):
        self.global_batch, self.seq_len = global_batch, seq_len
        self.process_index, self.process_count = process_index, process_count
        self.calls: list[int] = []

    def batch(self, step: int) -> dict[str, np.ndarray]:
        self.calls.append(step)
        full = sequences(1000 + step, self.global_batch, self.seq_len, stride=1 + step % 2)
        rows = self.global_batch // self.process_count
        return {k: v[self.process_index * rows : (self.process_index + 1) * rows] for k, v in full.items()}


def validation(seq_len: int) -> dict[str, dict[str, np.ndarray]]:
    return {"odd": sequences(7, 6, seq_len, stride=1), "even": sequences(8, 6, seq_len, stride=2)}
