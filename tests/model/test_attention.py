"""Block-causal attention (the CPU path of 'auto') computes what jax.nn.dot_product_attention does."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from admire_jax.model import Transformer, TransformerConfig, cross_entropy_loss
from admire_jax.model.attention import CPU_QUERY_BLOCK, attention_query_block, block_causal_attention, segment_mask

TINY = dict(
    vocab_size=256, d_model=64, num_layers=2, num_heads=4, num_kv_heads=2, d_ff=128, dtype="float32", loss_chunk_len=8
)


def packed_segments(batch: int, length: int) -> jax.Array:
    """Two documents per row, then three padding tokens (segment 0)."""
    seg = np.ones((batch, length), np.int32)
    seg[:, length // 3 :] = 2
    seg[:, -3:] = 0
    return jnp.asarray(seg)


@pytest.mark.parametrize(
    "length,heads,kv_heads,block",
    [
        (37, 4, 2, 16),  # length not a multiple of the block, grouped kv heads
        (32, 4, 4, 8),  # several whole blocks
        (20, 2, 1, 128),  # one block longer than the sequence
    ],
)
def test_block_causal_matches_dot_product_attention(length, heads, kv_heads, block):
    keys = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(keys[0], (2, length, heads, 8))
    k = jax.random.normal(keys[1], (2, length, kv_heads, 8))
    v = jax.random.normal(keys[2], (2, length, kv_heads, 8))
    mask = segment_mask(packed_segments(2, length))

    def reference(q, k, v):
        return jax.nn.dot_product_attention(q, k, v, mask=mask, is_causal=True, implementation="xla")

    def blocked(q, k, v):
        return block_causal_attention(q, k, v, mask, block)

    np.testing.assert_allclose(blocked(q, k, v), reference(q, k, v), atol=1e-5)
    cotangent = jax.random.normal(jax.random.key(1), q.shape)
    _, ref_vjp = jax.vjp(reference, q, k, v)
    _, blk_vjp = jax.vjp(blocked, q, k, v)
    for got, want in zip(blk_vjp(cotangent), ref_vjp(cotangent)):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_query_block_only_for_auto_on_cpu():
    assert attention_query_block("auto", "cpu") == CPU_QUERY_BLOCK
    assert attention_query_block("xla", "cpu") is None
    assert attention_query_block("auto", "gpu") is None
    assert attention_query_block("auto", "tpu") is None
    assert Transformer(
        TransformerConfig(**TINY), rngs=nnx.Rngs(0)
    ).blocks.attention.query_block == attention_query_block("auto")


def test_model_loss_and_grads_equal_with_either_attention(monkeypatch):
    monkeypatch.setattr("admire_jax.model.attention.CPU_QUERY_BLOCK", 8)  # several blocks at L=24
    tokens = jax.random.randint(jax.random.key(2), (2, 24), 0, 256, dtype=jnp.int32)
    segments = packed_segments(2, 24)
    positions = jnp.broadcast_to(jnp.arange(24), (2, 24))

    def loss_and_grads(attention: str, backend: str):
        monkeypatch.setattr(jax, "default_backend", lambda: backend)
        model = Transformer(TransformerConfig(**TINY, attention=attention), rngs=nnx.Rngs(0))
        assert (model.blocks.attention.query_block is not None) == (attention == "auto")

        def loss(m):
            return cross_entropy_loss(m, m(tokens, positions, segments), tokens, segments > 0)[0]

        return nnx.value_and_grad(loss)(model)

    blocked_loss, blocked_grads = loss_and_grads("auto", "cpu")
    plain_loss, plain_grads = loss_and_grads("xla", "cpu")
    np.testing.assert_allclose(blocked_loss, plain_loss, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b)))),
        blocked_grads,
        plain_grads,
    )
