"""Mesh construction, parameters placed as the logical rules say, and sharded == single device."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

from admire_jax.model import Transformer, TransformerConfig, cross_entropy_loss, sharding

# 4 heads and 2 kv heads: on a tensor axis of 4 the kv heads cannot split and stay replicated.
CFG = TransformerConfig(
    vocab_size=256, d_model=64, num_layers=2, num_heads=4, num_kv_heads=2, d_ff=128, dtype="float32", loss_chunk_len=8
)


def make_model() -> Transformer:
    return Transformer(CFG, rngs=nnx.Rngs(0))


def test_mesh_sizes_and_axis_type():
    mesh = sharding.make_mesh(data=-1, fsdp=2, tensor=2)
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert mesh.axis_types == (AxisType.Auto,) * 3
    assert dict(sharding.make_mesh().shape) == {"data": 8, "fsdp": 1, "tensor": 1}
    single = sharding.make_mesh(devices=jax.devices()[:1])
    assert dict(single.shape) == {"data": 1, "fsdp": 1, "tensor": 1}


@pytest.mark.parametrize(
    "sizes, message",
    [
        (dict(data=-1, fsdp=-1), "at most one -1"),
        (dict(data=3, fsdp=-1), "do not split"),
        (dict(data=2, fsdp=2, tensor=1), "needs 4 devices"),
        (dict(data=0), "positive"),
    ],
)
def test_bad_mesh_sizes_are_rejected(sizes, message):
    with pytest.raises(ValueError, match=message):
        sharding.make_mesh(**sizes)


def test_logical_to_spec_follows_rules_and_replicates_indivisible_dims():
    assert sharding.logical_to_spec(("batch", "length")) == P(("data", "fsdp"), None)
    assert sharding.logical_to_spec(("embed", "heads", "head_dim")) == P("fsdp", "tensor", None)
    mesh_shape = {"data": 1, "fsdp": 2, "tensor": 4}
    assert sharding.logical_to_spec(("embed", "kv_heads"), (64, 2), mesh_shape) == P("fsdp", None)
    with pytest.raises(ValueError, match="no rule"):
        sharding.logical_to_spec(("embedding",))


def test_parameters_and_optimizer_state_are_sharded_as_the_rules_say():
    mesh = sharding.make_mesh(data=1, fsdp=2, tensor=4)
    optimizer = sharding.create_sharded(
        lambda: nnx.ModelAndOptimizer(make_model(), optax.adamw(1e-3), wrt=nnx.Param), mesh
    )
    model = optimizer.model
    expected = {
        "embedding_VxD": P("tensor", "fsdp"),
        "output_DxV": P("fsdp", "tensor"),
        "final_norm.scale": P(None),
        "blocks.attention.query_DxHxK": P(None, "fsdp", "tensor", None),
        "blocks.attention.key_DxNxK": P(None, "fsdp", None, None),  # 2 kv heads, tensor = 4
        "blocks.attention.value_DxNxK": P(None, "fsdp", None, None),
        "blocks.attention.out_HxKxD": P(None, "tensor", None, "fsdp"),
        "blocks.mlp.gate_DxF": P(None, "fsdp", "tensor"),
        "blocks.mlp.up_DxF": P(None, "fsdp", "tensor"),
        "blocks.mlp.down_FxD": P(None, "tensor", "fsdp"),
        "blocks.attention_norm.scale": P(None, None),
        "blocks.mlp_norm.scale": P(None, None),
    }
    placed = {".".join(map(str, path)): v[...] for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert placed.keys() == expected.keys()
    for name, spec in expected.items():
        array = placed[name]
        assert array.sharding.mesh.shape == mesh.shape, name
        assert array.sharding.spec == spec, (name, array.sharding.spec)
    # Adam's moments follow the parameters they belong to.
    for moment in ("mu", "nu"):
        moments = {
            ".".join(map(str, path)): v[...] for path, v in nnx.to_flat_state(getattr(optimizer.opt_state[0], moment))
        }
        assert {name: m.sharding.spec for name, m in moments.items()} == expected
    # Each device holds only its shard: 256 x 64 split 4 ways by vocab and 2 ways by embed.
    assert placed["embedding_VxD"].addressable_shards[0].data.shape == (64, 32)
    # The same values as an unsharded (eager) initialisation, up to float rounding.
    reference = nnx.state(make_model(), nnx.Param)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), nnx.state(model, nnx.Param), reference
    )


def _batch(batch_size=8, length=24):
    keys = jax.random.split(jax.random.key(7), 2)
    segments = jnp.array([[1] * 10 + [2] * 10 + [0] * 4] * batch_size)
    positions = jnp.array([list(range(10)) * 2 + [0] * 4] * batch_size)
    return dict(
        inputs=jax.random.randint(keys[0], (batch_size, length), 0, 256),
        targets=jax.random.randint(keys[1], (batch_size, length), 0, 256),
        loss_mask=(segments > 0).astype(jnp.float32),
        positions=positions,
        segment_ids=segments,
    )


def _loss(model, batch):
    h = model(batch["inputs"], batch["positions"], batch["segment_ids"])
    loss_sum, count = cross_entropy_loss(model, h, batch["targets"], batch["loss_mask"])
    return loss_sum / count


@pytest.fixture(scope="module")
def one_device_loss_and_grads():
    single_mesh = sharding.make_mesh(devices=jax.devices()[:1])
    with jax.set_mesh(single_mesh):
        return nnx.jit(nnx.value_and_grad(_loss))(make_model(), _batch())


@pytest.mark.parametrize("mesh_sizes", [dict(data=1, fsdp=2, tensor=4), dict(data=2, fsdp=4)])
def test_sharded_loss_and_gradients_match_one_device(mesh_sizes, one_device_loss_and_grads):
    loss_1, grads_1 = one_device_loss_and_grads
    batch = _batch()

    mesh = sharding.make_mesh(**mesh_sizes)
    model = sharding.create_sharded(make_model, mesh)
    batch = jax.device_put(batch, sharding.batch_sharding(mesh))
    with jax.set_mesh(mesh):
        loss_8, grads_8 = nnx.jit(nnx.value_and_grad(_loss))(model, batch)

    np.testing.assert_allclose(loss_8, loss_1, rtol=1e-5)

    def close(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))

    jax.tree.map(close, grads_8, grads_1)


def test_abstract_state_of_7b_carries_shardings_without_allocating():
    mesh = sharding.make_mesh(data=2, fsdp=4)
    cfg = TransformerConfig(d_model=4096, num_heads=32, num_kv_heads=8, d_ff=14336, num_layers=32)
    with jax.set_mesh(mesh):  # works inside the mesh context too
        _, state = sharding.abstract_state(lambda: Transformer(cfg, rngs=nnx.Rngs(0)), mesh)
    query = state["blocks"]["attention"]["query_DxHxK"].get_value()
    assert isinstance(query, jax.ShapeDtypeStruct) and query.shape == (32, 4096, 32, 128)
    assert query.sharding.spec == P(None, "fsdp", "tensor", None)
    assert query.sharding.mesh.shape == mesh.shape


def _constraint_specs(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [eqn.params["sharding"].spec for eqn in jaxpr.eqns if eqn.primitive.name == "sharding_constraint"]


def test_activation_constraints_apply_only_under_a_mesh():
    x = jnp.zeros((8, 16, 128))

    def constrain(x):
        return sharding.constrain(x, ("batch", "length", "act_mlp"))

    assert _constraint_specs(constrain, x) == []
    with jax.set_mesh(sharding.make_mesh(data=1, fsdp=2, tensor=4)):
        assert _constraint_specs(constrain, x) == [P(("data", "fsdp"), None, "tensor")]
        # A batch the data x fsdp axes do not divide is left replicated rather than failing.
        assert _constraint_specs(constrain, jnp.zeros((3, 16, 128))) == [P(None, None, "tensor")]
