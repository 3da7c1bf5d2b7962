"""The decoder's forward pass, packed-document masking, chunked loss, remat, attention choice."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from admire_jax.model import Transformer, TransformerConfig, attention_implementation, cross_entropy_loss

TINY = dict(
    vocab_size=256, d_model=64, num_layers=2, num_heads=4, num_kv_heads=2, d_ff=128, dtype="float32", loss_chunk_len=8
)


def tiny_model(**overrides) -> Transformer:
    return Transformer(TransformerConfig(**{**TINY, **overrides}), rngs=nnx.Rngs(0))


def random_tokens(shape, seed=0):
    return jax.random.randint(jax.random.key(seed), shape, 0, 256, dtype=jnp.int32)


def assert_trees_close(actual, expected, rtol=1e-4):
    """Elementwise closeness, with an absolute floor scaled to each array's largest entry."""

    def close(a, b):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(jnp.max(jnp.abs(b))))

    jax.tree.map(close, actual, expected)


def naive_loss(model, h, targets, mask):
    log_probs = jax.nn.log_softmax(model.logits(h), axis=-1)
    token_loss = -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(token_loss * mask), jnp.sum(mask)


def test_bf16_compute_fp32_params():
    model = tiny_model(dtype="bfloat16")
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    tokens = random_tokens((2, 16))
    h, (loss_sum, count) = nnx.jit(lambda m: (m(tokens), cross_entropy_loss(m, m(tokens), tokens, jnp.ones((2, 16)))))(
        model
    )
    assert h.shape == (2, 16, 64) and h.dtype == jnp.bfloat16
    assert loss_sum.dtype == jnp.float32 and count == 32
    assert abs(loss_sum / count - np.log(256)) < 0.5  # near-uniform predictions at init


def test_initialisation_scales_and_independent_layers():
    params = nnx.state(tiny_model(num_layers=4), nnx.Param)
    query = params["blocks"]["attention"]["query_DxHxK"][...]
    assert query.shape[0] == 4 and not np.allclose(query[0], query[1])
    # Inputs to the residual stream: variance 1/fan_in; writes into it: 1/(fan_in * 2 * layers).
    np.testing.assert_allclose(np.std(params["blocks"]["mlp"]["up_DxF"][...]), 64**-0.5, rtol=0.05)
    np.testing.assert_allclose(np.std(params["blocks"]["mlp"]["down_FxD"][...]), (128 * 8) ** -0.5, rtol=0.05)
    np.testing.assert_allclose(np.std(params["blocks"]["attention"]["out_HxKxD"][...]), (64 * 8) ** -0.5, rtol=0.05)
    np.testing.assert_allclose(np.std(params["embedding_VxD"][...]), 0.02, rtol=0.05)


forward = nnx.jit(lambda model, *args: model(*args))


def test_packed_documents_do_not_see_each_other():
    model = tiny_model()
    doc_a, doc_b = random_tokens((1, 10), seed=1), random_tokens((1, 14), seed=2)
    other_a = random_tokens((1, 10), seed=3)
    segments = jnp.array([[1] * 10 + [2] * 14])
    positions = jnp.array([list(range(10)) + list(range(14))])
    h = forward(model, jnp.concatenate([doc_a, doc_b], 1), positions, segments)
    h_other = forward(model, jnp.concatenate([other_a, doc_b], 1), positions, segments)
    assert not np.allclose(h[:, :10], h_other[:, :10], atol=1e-3)  # A itself did change
    np.testing.assert_allclose(h[:, 10:], h_other[:, 10:], atol=1e-5)  # B did not notice
    # With one segment per row, B attends to A and does change: the mask is what isolates it.
    h_unsegmented = forward(model, jnp.concatenate([other_a, doc_b], 1), positions, jnp.ones_like(segments))
    assert not np.allclose(h[:, 10:], h_unsegmented[:, 10:], atol=1e-3)
    # B packed behind A equals B alone at the start of a row followed by padding (segment 0).
    alone = forward(
        model,
        jnp.concatenate([doc_b, jnp.zeros((1, 10), jnp.int32)], 1),
        jnp.array([list(range(14)) + [0] * 10]),
        jnp.array([[1] * 14 + [0] * 10]),
    )
    np.testing.assert_allclose(h[:, 10:], alone[:, :14], atol=1e-5)


def test_attention_is_causal():
    model = tiny_model()
    tokens = random_tokens((1, 24))
    changed_tail = tokens.at[:, 16:].set(random_tokens((1, 8), seed=5))
    positions, segments = jnp.arange(24)[None], jnp.ones((1, 24), jnp.int32)
    np.testing.assert_allclose(
        forward(model, tokens, positions, segments)[:, :16],
        forward(model, changed_tail, positions, segments)[:, :16],
        atol=1e-5,
    )


def test_chunked_loss_equals_full_logits_loss():
    model = tiny_model()  # chunks of 8 positions; a length of 20 also exercises the padding
    tokens, targets = random_tokens((3, 20), seed=1), random_tokens((3, 20), seed=2)
    mask = (jax.random.uniform(jax.random.key(3), (3, 20)) > 0.3).astype(jnp.float32)

    @nnx.jit
    def both(m):
        chunked = nnx.value_and_grad(lambda m: cross_entropy_loss(m, m(tokens), targets, mask), has_aux=True)(m)
        full = nnx.value_and_grad(lambda m: naive_loss(m, m(tokens), targets, mask), has_aux=True)(m)
        return chunked, full

    ((loss, count), grads), ((expected, expected_count), expected_grads) = both(model)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert count == expected_count == mask.sum()
    assert_trees_close(grads, expected_grads)


def test_chunked_loss_never_builds_full_logits():
    model = tiny_model(vocab_size=512, loss_chunk_len=4)
    h = jnp.ones((2, 32, 64))
    jaxpr = jax.make_jaxpr(
        lambda m, h: nnx.grad(lambda m: cross_entropy_loss(m, h, jnp.zeros((2, 32), jnp.int32), jnp.ones((2, 32)))[0])(
            m
        )
    )(model, h)

    def all_shapes(jaxpr):
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                yield tuple(v.aval.shape)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from all_shapes(sub)

    shapes = set(all_shapes(jaxpr.jaxpr))
    assert (2, 4, 512) in shapes  # one chunk's logits
    assert (2, 32, 512) not in shapes  # never the whole batch's
    assert (8, 2, 4, 512) not in shapes  # nor every chunk's, stacked as scan residuals


def test_remat_policies_keep_loss_and_gradients():
    tokens = random_tokens((2, 16))
    models = [tiny_model(remat=remat) for remat in ("none", "full", "save_dots")]

    def loss(m):
        s, n = cross_entropy_loss(m, m(tokens), tokens, jnp.ones((2, 16)))
        return s / n

    (base_loss, base_grads), *others = nnx.jit(lambda ms: [nnx.value_and_grad(loss)(m) for m in ms])(models)
    for loss_value, grads in others:
        np.testing.assert_allclose(loss_value, base_loss, rtol=1e-6)
        assert_trees_close(grads, base_grads, rtol=1e-5)


def test_qwen_style_tied_embeddings_and_qkv_bias():
    model = tiny_model(tie_embeddings=True, qkv_bias=True)
    assert model.output_DxV is None
    np.testing.assert_array_equal(model.output_weights(), model.embedding_VxD[...].T)
    tokens = random_tokens((2, 8))
    grads = nnx.jit(nnx.grad(lambda m: cross_entropy_loss(m, m(tokens), tokens, jnp.ones((2, 8)))[0]))(model)
    assert float(jnp.abs(grads["blocks"]["attention"]["query_bias"][...]).sum()) > 0


def test_attention_implementation_per_backend(monkeypatch):
    assert attention_implementation("auto", "gpu") == "cudnn"
    assert attention_implementation("auto", "cuda") == "cudnn"
    assert attention_implementation("auto", "cpu") == "xla"
    assert attention_implementation("auto", "tpu") == "xla"
    assert attention_implementation("xla", "gpu") == "xla"
    assert attention_implementation("cudnn", "cpu") == "cudnn"
    # cuDNN flash attention takes 16-bit inputs and heads up to 128 wide only.
    assert attention_implementation("auto", "gpu", dtype=jnp.float32) == "xla"
    assert attention_implementation("auto", "gpu", head_dim=256) == "xla"
    assert tiny_model(dtype="bfloat16").blocks.attention.implementation == "xla"  # a CPU here
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert tiny_model(dtype="bfloat16").blocks.attention.implementation == "cudnn"
    assert tiny_model(dtype="float32").blocks.attention.implementation == "xla"
    assert tiny_model(dtype="bfloat16", attention="xla").blocks.attention.implementation == "xla"


def test_bad_inputs_are_rejected():
    model = tiny_model()
    with pytest.raises(ValueError, match="batch, length"):
        model(jnp.zeros((16,), jnp.int32))
    with pytest.raises(ValueError, match="must agree"):
        cross_entropy_loss(model, jnp.zeros((2, 8, 64)), jnp.zeros((2, 9), jnp.int32), jnp.ones((2, 9)))


def test_remat_policies_trade_memory_for_recompute():
    def temp_bytes(remat):
        cfg = TransformerConfig(**{**TINY, "num_layers": 4, "remat": remat})
        graphdef, state = nnx.split(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))))
        tokens = jax.ShapeDtypeStruct((4, 256), jnp.int32)

        def loss(params, t):
            model = nnx.merge(graphdef, params)
            return cross_entropy_loss(model, model(t), t, jnp.ones(t.shape))[0]

        compiled = jax.jit(jax.grad(loss)).lower(state, tokens).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    none, save_dots, full = temp_bytes("none"), temp_bytes("save_dots"), temp_bytes("full")
    assert full < save_dots < none
