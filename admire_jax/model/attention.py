"""Grouped-query self-attention over packed documents.

A token attends to earlier tokens of its own document only (causal and same segment id; padding
is segment 0 and so only sees padding). The kernel is `jax.nn.dot_product_attention`, whose
implementation is chosen per backend: jax does not pick cuDNN flash attention by itself. On CPU,
'auto' instead runs the same XLA computation cut into causal query blocks
(`block_causal_attention`), which skips the score blocks above the diagonal: about 2x faster
forward + backward there at sequence 512 (measured: BENCHMARKS.md, "Trainer throughput and MFU").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from admire_jax.model import sharding
from admire_jax.model.config import TransformerConfig
from admire_jax.model.layers import apply_rotary, fan_in_init, make_param, residual_scale


def attention_implementation(
    setting: str = "auto", backend: str | None = None, dtype: jnp.dtype = jnp.bfloat16, head_dim: int = 64
) -> str:
    """The `implementation` for jax.nn.dot_product_attention.

    'auto' means cuDNN flash attention on GPU where it applies (16-bit inputs, head_dim a multiple
    of 8 up to 128) and XLA everywhere else; 'xla' or 'cudnn' are returned as given.
    """
    if setting != "auto":
        return setting
    backend = jax.default_backend() if backend is None else backend
    cudnn_fits = jnp.dtype(dtype).itemsize == 2 and head_dim % 8 == 0 and head_dim <= 128
    return "cudnn" if backend in ("gpu", "cuda", "rocm") and cudnn_fits else "xla"


CPU_QUERY_BLOCK = 128  # query rows per block of block_causal_attention on CPU (best of 64/128/256)


def attention_query_block(setting: str = "auto", backend: str | None = None) -> int | None:
    """Query rows per block for `block_causal_attention`, or None for jax.nn.dot_product_attention.

    Only 'auto' on CPU blocks: there XLA's attention is bound by the [B, H, L, L] score tensor,
    and skipping its masked upper blocks pays; an explicit 'xla' or 'cudnn' is left as given.
    """
    backend = jax.default_backend() if backend is None else backend
    return CPU_QUERY_BLOCK if setting == "auto" and backend == "cpu" else None


def block_causal_attention(
    q_BxLxHxK: jax.Array, k_BxLxNxK: jax.Array, v_BxLxNxK: jax.Array, mask_Bx1xLxL: jax.Array, query_block: int
) -> jax.Array:
    """Causal attention under an extra mask, the same numbers as jax.nn.dot_product_attention's
    XLA path (fp32 logits and softmax, grouped kv heads), computed one query block at a time.

    Queries [s, e) can only see keys [0, e), so each block scores against that prefix alone: at
    length L with blocks of c, (L/c + 1) / (2 L/c) of the full score tensor is computed.
    """
    batch, length, heads, head_dim = q_BxLxHxK.shape
    kv_heads = k_BxLxNxK.shape[2]
    q_BxLxNxGxK = q_BxLxHxK.reshape(batch, length, kv_heads, heads // kv_heads, head_dim)
    scale = jnp.float32(head_dim**-0.5)
    masked = jnp.float32(0.7 * jnp.finfo(jnp.float32).min)  # as jax.nn.dot_product_attention
    outputs = []
    for start in range(0, length, query_block):
        end = min(start + query_block, length)
        logits_BxNxGxCxE = (
            jnp.einsum(
                "bcngk,benk->bngce", q_BxLxNxGxK[:, start:end], k_BxLxNxK[:, :end], preferred_element_type=jnp.float32
            )
            * scale
        )
        causal_CxE = jnp.arange(start, end)[:, None] >= jnp.arange(end)[None, :]
        visible_Bx1x1xCxE = (mask_Bx1xLxL[:, :, start:end, :end] & causal_CxE)[:, :, None]
        logits_BxNxGxCxE = jnp.where(visible_Bx1x1xCxE, logits_BxNxGxCxE, masked)
        probs = jax.nn.softmax(logits_BxNxGxCxE, axis=-1).astype(v_BxLxNxK.dtype)
        outputs.append(jnp.einsum("bngce,benk->bcngk", probs, v_BxLxNxK[:, :end]))
    out_BxLxNxGxK = jnp.concatenate(outputs, axis=1) if len(outputs) > 1 else outputs[0]
    return out_BxLxNxGxK.reshape(batch, length, heads, head_dim)


def segment_mask(segment_ids_BxL: jax.Array) -> jax.Array:
    """[B, 1, L, L] True where query and key belong to the same segment (causality added apart)."""
    return (segment_ids_BxL[:, :, None] == segment_ids_BxL[:, None, :])[:, None, :, :]


class Attention(nnx.Module):
    """Multi-head attention with `num_kv_heads` shared key/value heads and rotary embeddings."""

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        d, h, k, hd = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dims
        self.dtype = cfg.compute_dtype
        self.implementation = attention_implementation(cfg.attention, dtype=cfg.compute_dtype, head_dim=hd)
        self.query_block = attention_query_block(cfg.attention)
        in_init = fan_in_init(0, (1, 2))
        self.query_DxHxK = make_param(rngs, in_init, (d, h, hd), ("embed", "heads", "head_dim"), cfg)
        self.key_DxNxK = make_param(rngs, in_init, (d, k, hd), ("embed", "kv_heads", "head_dim"), cfg)
        self.value_DxNxK = make_param(rngs, in_init, (d, k, hd), ("embed", "kv_heads", "head_dim"), cfg)
        self.out_HxKxD = make_param(
            rngs, fan_in_init((0, 1), 2, residual_scale(cfg)), (h, hd, d), ("heads", "head_dim", "embed"), cfg
        )
        if cfg.qkv_bias:
            zeros = nnx.initializers.zeros
            self.query_bias = make_param(rngs, zeros, (h, hd), ("heads", "head_dim"), cfg)
            self.key_bias = make_param(rngs, zeros, (k, hd), ("kv_heads", "head_dim"), cfg)
            self.value_bias = make_param(rngs, zeros, (k, hd), ("kv_heads", "head_dim"), cfg)
        else:
            self.query_bias = self.key_bias = self.value_bias = None

    def _project(self, x_BxLxD: jax.Array, kernel: nnx.Param, bias: nnx.Param | None) -> jax.Array:
        y = jnp.einsum("bld,dhk->blhk", x_BxLxD, kernel[...].astype(self.dtype))
        if bias is not None:
            y = y + bias[...].astype(self.dtype)
        return sharding.constrain(y, ("batch", "length", "act_heads", None))

    def __call__(
        self, x_BxLxD: jax.Array, sin_BxLxF: jax.Array, cos_BxLxF: jax.Array, mask_Bx1xLxL: jax.Array
    ) -> jax.Array:
        q_BxLxHxK = self._project(x_BxLxD, self.query_DxHxK, self.query_bias)
        k_BxLxNxK = self._project(x_BxLxD, self.key_DxNxK, self.key_bias)
        v_BxLxNxK = self._project(x_BxLxD, self.value_DxNxK, self.value_bias)
        q_BxLxHxK = apply_rotary(q_BxLxHxK, sin_BxLxF, cos_BxLxF)
        k_BxLxNxK = apply_rotary(k_BxLxNxK, sin_BxLxF, cos_BxLxF)
        if self.query_block is not None:
            out_BxLxHxK = block_causal_attention(q_BxLxHxK, k_BxLxNxK, v_BxLxNxK, mask_Bx1xLxL, self.query_block)
        else:
            out_BxLxHxK = jax.nn.dot_product_attention(
                q_BxLxHxK, k_BxLxNxK, v_BxLxNxK, mask=mask_Bx1xLxL, is_causal=True, implementation=self.implementation
            )
        out_BxLxHxK = sharding.constrain(out_BxLxHxK, ("batch", "length", "act_heads", None))
        return jnp.einsum("blhk,hkd->bld", out_BxLxHxK, self.out_HxKxD[...].astype(self.dtype))
