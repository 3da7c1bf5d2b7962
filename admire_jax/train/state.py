"""The train state (step, parameters, optimiser state), its shardings, and its sharded creation.

Parameters are created directly on their devices (inside jit, with out_shardings from the
model's logical axis rules), so a model larger than one device never exists whole anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from admire_jax.train.model_spec import ModelSpec


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimiser updates done
    params: nnx.State
    opt_state: optax.OptState


@contextlib.contextmanager
def sharding_context(spec: ModelSpec, mesh: jax.sharding.Mesh) -> Iterator[None]:
    """The mesh and logical rules that model code resolves its sharding annotations against."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(tuple(spec.rules)):
        yield


def split_model(spec: ModelSpec, seed: int = 0):
    """(graphdef, params, rest) of the model, created abstractly (no memory)."""
    model = nnx.eval_shape(lambda: spec.make_model(nnx.Rngs(seed)))
    return nnx.split(model, nnx.Param, ...)


def param_shardings(spec: ModelSpec, mesh: jax.sharding.Mesh, abstract_params: nnx.State):
    """NamedSharding per parameter, from its logical axis names and the spec's rules."""
    if spec.param_shardings is not None:
        return spec.param_shardings(abstract_params, mesh)
    with nnx.logical_axis_rules(tuple(spec.rules)):
        pspecs = nnx.get_partition_spec(abstract_params)
    return jax.tree.map(lambda p: jax.sharding.NamedSharding(mesh, p), pspecs)


def state_shardings(
    spec: ModelSpec, mesh: jax.sharding.Mesh, tx: optax.GradientTransformation, seed: int = 0
) -> tuple[TrainState, TrainState]:
    """(abstract state with shardings attached, shardings): what jit and Orbax need."""
    with sharding_context(spec, mesh):
        _, abstract_params, _ = split_model(spec, seed)
        p_shard = param_shardings(spec, mesh, abstract_params)
        abstract_opt = jax.eval_shape(tx.init, abstract_params)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    opt_shard = optax.tree_map_params(
        tx,
        lambda _, s: s,
        abstract_opt,
        p_shard,
        transform_non_params=lambda _: replicated,
        is_leaf=lambda x: isinstance(x, jax.sharding.NamedSharding),
    )
    shardings = TrainState(step=replicated, params=p_shard, opt_state=opt_shard)
    abstract = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=abstract_params, opt_state=abstract_opt)
    abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)
    return abstract, shardings


def create_state(
    spec: ModelSpec,
    mesh: jax.sharding.Mesh,
    tx: optax.GradientTransformation,
    shardings: TrainState,
    seed: int = 0,
) -> TrainState:
    """A freshly initialised, sharded train state (deterministic in `seed`), or one starting from
    the spec's pretrained parameters when it has `load_params`."""
    if spec.load_params is not None:
        with sharding_context(spec, mesh):
            params = jax.device_put(spec.load_params(mesh), shardings.params)
            opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(params)
        step = jax.device_put(jnp.zeros((), jnp.int32), shardings.step)
        return TrainState(step=step, params=params, opt_state=opt_state)

    def init() -> TrainState:
        model = spec.make_model(nnx.Rngs(seed))
        params = nnx.state(model, nnx.Param)
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    with sharding_context(spec, mesh):
        return jax.jit(init, out_shardings=shardings)()
