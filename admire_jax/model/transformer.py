"""The decoder-only transformer: embedding, a scanned stack of pre-norm blocks, final norm.

Block parameters are stacked on a leading 'layers' axis and the stack runs under one
`jax.lax.scan`, so compile time does not grow with depth; `config.remat` chooses what the
backward pass recomputes per block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from admire_jax.model import sharding
from admire_jax.model.attention import Attention, segment_mask
from admire_jax.model.config import TransformerConfig
from admire_jax.model.layers import RMSNorm, SwiGLU, fan_in_init, make_param, rotary_tables

_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Block(nnx.Module):
    """Pre-norm residual block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        self.attention_norm = RMSNorm(cfg, rngs=rngs)
        self.attention = Attention(cfg, rngs=rngs)
        self.mlp_norm = RMSNorm(cfg, rngs=rngs)
        self.mlp = SwiGLU(cfg, rngs=rngs)

    def __call__(
        self, x_BxLxD: jax.Array, sin_BxLxF: jax.Array, cos_BxLxF: jax.Array, mask_Bx1xLxL: jax.Array
    ) -> jax.Array:
        x_BxLxD = x_BxLxD + self.attention(self.attention_norm(x_BxLxD), sin_BxLxF, cos_BxLxF, mask_Bx1xLxL)
        x_BxLxD = sharding.constrain(x_BxLxD, ("batch", "length", "act_embed"))
        x_BxLxD = x_BxLxD + self.mlp(self.mlp_norm(x_BxLxD))
        return sharding.constrain(x_BxLxD, ("batch", "length", "act_embed"))


class Transformer(nnx.Module):
    """Maps token ids [B, L] to final-norm hidden states [B, L, d_model] in the compute dtype.

    The output projection is applied by `cross_entropy_loss` (chunked) or `logits` (whole batch).
    """

    def __init__(self, config: TransformerConfig, *, rngs: nnx.Rngs):
        cfg = self.config = config
        self.embedding_VxD = make_param(
            rngs, nnx.initializers.normal(cfg.init_std), (cfg.vocab_size, cfg.d_model), ("vocab", "embed"), cfg
        )

        @nnx.vmap(in_axes=0, out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
        def stacked_blocks(layer_rngs: nnx.Rngs) -> Block:
            return Block(cfg, rngs=layer_rngs)

        self.blocks = stacked_blocks(rngs.split(cfg.num_layers))
        self.final_norm = RMSNorm(cfg, rngs=rngs)
        if cfg.tie_embeddings:
            self.output_DxV = None
        else:
            self.output_DxV = make_param(
                rngs, fan_in_init(0, 1), (cfg.d_model, cfg.vocab_size), ("embed", "vocab"), cfg
            )

    def __call__(
        self, inputs_BxL: jax.Array, positions_BxL: jax.Array | None = None, segment_ids_BxL: jax.Array | None = None
    ) -> jax.Array:
        """Hidden states; positions default to 0..L-1 and segments to one document per row."""
        cfg = self.config
        if inputs_BxL.ndim != 2:
            raise ValueError(f"inputs must be [batch, length] token ids, got shape {inputs_BxL.shape}")
        if positions_BxL is None:
            positions_BxL = jnp.broadcast_to(jnp.arange(inputs_BxL.shape[1]), inputs_BxL.shape)
        if segment_ids_BxL is None:
            segment_ids_BxL = jnp.ones_like(inputs_BxL)
        sin_BxLxF, cos_BxLxF = rotary_tables(positions_BxL, cfg.head_dims, cfg.rope_theta, cfg.rope_scaling)
        mask_Bx1xLxL = segment_mask(segment_ids_BxL)

        # The table is gathered over fsdp first (as FSDP does for every weight), so that the lookup's
        # output and its gradient stay batch-sharded rather than embed-sharded.
        table_VxD = sharding.constrain(self.embedding_VxD[...].astype(cfg.compute_dtype), ("vocab", None))
        x_BxLxD = jnp.take(table_VxD, inputs_BxL, axis=0)
        x_BxLxD = sharding.constrain(x_BxLxD, ("batch", "length", "act_embed"))

        graphdef, stacked_state = nnx.split(self.blocks)

        def one_block(x, layer_state):
            block = nnx.merge(graphdef, layer_state)
            return block(x, sin_BxLxF, cos_BxLxF, mask_Bx1xLxL), None

        if cfg.remat != "none":
            one_block = jax.checkpoint(one_block, policy=_REMAT_POLICIES[cfg.remat], prevent_cse=False)
        x_BxLxD, _ = jax.lax.scan(one_block, x_BxLxD, stacked_state, unroll=cfg.scan_unroll)
        return self.final_norm(x_BxLxD)

    def output_weights(self) -> jax.Array:
        """The [d_model, vocab] output projection in the parameter dtype (the embedding if tied)."""
        if self.output_DxV is None:
            return self.embedding_VxD[...].T
        return self.output_DxV[...]

    def logits(self, h_BxLxD: jax.Array) -> jax.Array:
        """Full float32 logits [B, L, vocab]; for inspection and small batches (the loss chunks)."""
        w_DxV = self.output_weights().astype(self.config.compute_dtype)
        return jnp.einsum("bld,dv->blv", h_BxLxD, w_DxV, preferred_element_type=jnp.float32)
