"""Next-token cross-entropy that never holds float32 logits for the whole batch.

The sequence is cut into chunks of `config.loss_chunk_len` positions; a scan computes each
chunk's logits, its loss sum, and discards them. Each chunk is rematerialised in the backward
pass, so the scan does not keep every chunk's softmax as a residual either. Peak logits memory is
batch x chunk x vocab x 4 bytes instead of batch x length x vocab x 4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from admire_jax.model.transformer import Transformer


def _chunk_loss_sum(h_BxCxD: jax.Array, w_DxV: jax.Array, targets_BxC: jax.Array, mask_BxC: jax.Array) -> jax.Array:
    logits_BxCxV = jnp.einsum("bcd,dv->bcv", h_BxCxD, w_DxV, preferred_element_type=jnp.float32)
    log_z_BxC = jax.nn.logsumexp(logits_BxCxV, axis=-1)
    target_logit_BxC = jnp.take_along_axis(logits_BxCxV, targets_BxC[..., None], axis=-1)[..., 0]
    return jnp.sum((log_z_BxC - target_logit_BxC) * mask_BxC)


def cross_entropy_loss(
    model: Transformer, h_BxLxD: jax.Array, targets_BxL: jax.Array, loss_mask_BxL: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(sum of masked token losses, sum of the mask), both float32 scalars.

    Returning the sum and the count (not the mean) lets gradient accumulation and multi-host
    averaging weight every token equally.
    """
    if h_BxLxD.shape[:2] != targets_BxL.shape or targets_BxL.shape != loss_mask_BxL.shape:
        raise ValueError(
            f"hidden {h_BxLxD.shape}, targets {targets_BxL.shape} and loss_mask "
            f"{loss_mask_BxL.shape} must agree on [batch, length]"
        )
    batch, length, d_model = h_BxLxD.shape
    chunk = min(model.config.loss_chunk_len, length)
    pad = -length % chunk
    mask_BxL = loss_mask_BxL.astype(jnp.float32)
    if pad:
        h_BxLxD = jnp.pad(h_BxLxD, ((0, 0), (0, pad), (0, 0)))
        targets_BxL = jnp.pad(targets_BxL, ((0, 0), (0, pad)))
        mask_BxL = jnp.pad(mask_BxL, ((0, 0), (0, pad)))
    num_chunks = (length + pad) // chunk

    def by_chunk(x):  # [B, L, ...] -> [num_chunks, B, chunk, ...]; the batch sharding is kept
        return jnp.swapaxes(x.reshape(batch, num_chunks, chunk, *x.shape[2:]), 0, 1)

    w_DxV = model.output_weights().astype(h_BxLxD.dtype)
    chunk_loss = jax.checkpoint(_chunk_loss_sum)

    def accumulate(total, xs):
        h, targets, mask = xs
        return total + chunk_loss(h, w_DxV, targets, mask), None

    loss_sum, _ = jax.lax.scan(
        accumulate, jnp.zeros((), jnp.float32), (by_chunk(h_BxLxD), by_chunk(targets_BxL), by_chunk(mask_BxL))
    )
    return loss_sum, jnp.sum(mask_BxL)
