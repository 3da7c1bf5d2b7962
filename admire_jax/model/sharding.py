"""The device mesh and every logical-axis -> mesh-axis rule of the model, in one place.

Parameters and key activations carry logical axis names ('embed', 'heads', 'batch', ...);
`LOGICAL_RULES` alone decides which mesh axis each name is split over. The mesh uses
`AxisType.Auto` axes: shardings are constraints that the XLA partitioner propagates (the model
annotates with `with_sharding_constraint`), rather than `Explicit` axes, which make sharding part
of every array's type and require out-shardings on ambiguous ops. `jax.make_mesh` now defaults to
Explicit, so the type is passed on purpose.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# logical name -> mesh axis (or axes, or None = replicated). Params: embed over fsdp (ZeRO-3
# style); heads / mlp / vocab over tensor (Megatron style). Activations: batch over data x fsdp.
LOGICAL_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("mlp", "tensor"),
    ("norm", None),
    ("layers", None),
)


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (all devices by default); one size may be -1."""
    devices = list(jax.devices() if devices is None else devices)
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"mesh sizes must be positive with at most one -1, got {dict(zip(MESH_AXES, sizes))}")
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"{len(devices)} devices do not split into {dict(zip(MESH_AXES, sizes))}")
        sizes[sizes.index(-1)] = len(devices) // known
    if int(np.prod(sizes)) != len(devices):
        raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {int(np.prod(sizes))} devices, have {len(devices)}")
    return jax.make_mesh(tuple(sizes), MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES), devices=devices)


def logical_to_spec(
    names: Sequence[str | None],
    shape: Sequence[int] | None = None,
    mesh_shape: dict[str, int] | None = None,
    rules: Sequence[tuple[str, Any]] = LOGICAL_RULES,
) -> PartitionSpec:
    """The PartitionSpec for an array with these logical axis names.

    Given `shape` and `mesh_shape`, a dimension the mesh axes do not divide is replicated instead
    (e.g. 2 kv heads on a tensor axis of 4), so any config runs on any mesh.
    """
    table = dict(rules)
    unknown = [n for n in names if n is not None and n not in table]
    if unknown:
        raise ValueError(f"logical axis names {unknown} have no rule in sharding.LOGICAL_RULES")
    spec = []
    for i, name in enumerate(names):
        axes = table[name] if name is not None else None
        if axes is not None and shape is not None and mesh_shape is not None:
            size = int(np.prod([mesh_shape[a] for a in ((axes,) if isinstance(axes, str) else axes)]))
            axes = axes if shape[i] % size == 0 else None
        spec.append(axes)
    return PartitionSpec(*spec)


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """Pins an activation's sharding by logical names; a no-op when no mesh is set (jax.set_mesh)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return x
    return jax.lax.with_sharding_constraint(x, logical_to_spec(names, x.shape, dict(mesh.shape)))


def state_shardings(state: Any, mesh: Mesh) -> Any:
    """The NamedSharding of every Variable in an (abstract or concrete) nnx state, from the rules."""

    def sharding_of(v: nnx.Variable) -> nnx.Variable:
        names = v.get_metadata().get("out_sharding") or (None,) * len(v.shape)
        return v.replace(NamedSharding(mesh, logical_to_spec(names, v.shape, dict(mesh.shape))))

    return jax.tree.map(sharding_of, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of [batch, length] input arrays (inputs, targets, masks, positions, segments)."""
    return NamedSharding(mesh, logical_to_spec(("batch", "length")))


def _abstract_split(make_model: Callable[[], nnx.Module]) -> tuple[Any, Any]:
    # Without a mesh in context: under one, nnx.eval_shape would read logical names as mesh axes.
    with jax.set_mesh(None):
        return nnx.split(nnx.eval_shape(make_model))


def abstract_state(make_model: Callable[[], nnx.Module], mesh: Mesh) -> tuple[Any, Any]:
    """(graphdef, state of ShapeDtypeStructs carrying their NamedShardings); nothing allocated."""
    graphdef, state = _abstract_split(make_model)
    shardings = state_shardings(state, mesh)
    return graphdef, jax.tree.map(lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s), state, shardings)


def create_sharded(make_model: Callable[[], nnx.Module], mesh: Mesh) -> nnx.Module:
    """Builds `make_model()` inside jit so each device only ever holds its own parameter shards."""
    graphdef, state = _abstract_split(make_model)
    shardings = state_shardings(state, mesh)
    state = jax.jit(lambda: nnx.split(make_model())[1], out_shardings=shardings)()
    return nnx.merge(graphdef, state)
