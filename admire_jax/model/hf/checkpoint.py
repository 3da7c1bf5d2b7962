"""Import and export of Hugging Face Llama / Qwen2 checkpoints (config.json + safetensors).

Import streams: every parameter is assembled device by device; for each device the loader reads,
layer by layer, only that device's slice of the memory-mapped HF tensors, puts it on the device
and lets it go. Host memory therefore holds one device's shard of one parameter at a time, never
a second copy of the model, and each shard lands directly under the NamedSharding that the
model's logical rules give (`sharding.state_shardings`).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from admire_jax.model import sharding
from admire_jax.model.config import TransformerConfig
from admire_jax.model.hf.layout import IGNORED_SUFFIXES, TensorSpec, config_from_hf, config_to_hf, tensor_specs
from admire_jax.model.hf.safetensors_io import CheckpointFiles, write_checkpoint
from admire_jax.model.transformer import Transformer

CONFIG_FILE = "config.json"


def read_config(folder: str | os.PathLike, **overrides: Any) -> tuple[TransformerConfig, str]:
    """(TransformerConfig, family) of the checkpoint in `folder`; see `layout.config_from_hf`."""
    path = pathlib.Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: no {CONFIG_FILE} (not a Hugging Face checkpoint folder)")
    try:
        hf = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    return config_from_hf(hf, str(path), **overrides)


def _index_range(index: slice, size: int) -> tuple[int, int]:
    start, stop, step = index.indices(size)
    if step != 1:
        raise ValueError(f"strided shard index {index} is not supported")
    return start, stop


def read_shard(
    hf_tensor: np.ndarray, spec: TensorSpec, target_shape: tuple[int, ...], index: tuple[slice, ...], head_dim: int
) -> np.ndarray:
    """The `index` slice of one layer's param (our layout), reading only that part of the HF
    tensor (a memory-mapped view)."""
    ranges = [_index_range(s, n) for s, n in zip(index, target_shape)]
    sl = [slice(a, b) for a, b in ranges]
    if spec.kind == "copy":
        return np.asarray(hf_tensor[tuple(sl)])
    if spec.kind == "transpose":
        return np.asarray(hf_tensor[sl[1], sl[0]]).T
    k = head_dim
    if spec.kind == "heads_out":  # [H*K, D] -> [D, H, K]
        (h0, h1), d_slice = ranges[1], sl[0]
        block = np.asarray(hf_tensor[h0 * k : h1 * k, d_slice])
        return block.T.reshape(block.shape[1], h1 - h0, k)[:, :, sl[2]]
    if spec.kind == "heads_in":  # [D, H*K] -> [H, K, D]
        (h0, h1), d_slice = ranges[0], sl[2]
        block = np.asarray(hf_tensor[d_slice, h0 * k : h1 * k])
        return block.T.reshape(h1 - h0, k, block.shape[0])[:, sl[1], :]
    if spec.kind == "heads_bias":  # [H*K] -> [H, K]
        h0, h1 = ranges[0]
        return np.asarray(hf_tensor[h0 * k : h1 * k]).reshape(h1 - h0, k)[:, sl[1]]
    raise ValueError(f"unknown tensor kind {spec.kind!r}")


def to_hf_layout(layer_value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """One layer's param (our layout) as the HF tensor."""
    if spec.kind == "copy":
        return layer_value
    if spec.kind == "transpose":
        return layer_value.T
    if spec.kind == "heads_out":
        return layer_value.reshape(layer_value.shape[0], -1).T
    if spec.kind == "heads_in":
        return layer_value.reshape(-1, layer_value.shape[-1]).T
    if spec.kind == "heads_bias":
        return layer_value.reshape(-1)
    raise ValueError(f"unknown tensor kind {spec.kind!r}")


def check_tensors(files: CheckpointFiles, specs: list[TensorSpec], cfg_source: str) -> None:
    """ValueError naming the file and tensor for a missing, misshapen or unexpected tensor."""
    expected = {s.hf_name: s for s in specs}
    missing = sorted(set(expected) - files.names)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(
            f"{files.folder}: tensor {missing[0]!r}{more} required by {cfg_source} is missing from the checkpoint"
        )
    for s in specs:
        if files.shape(s.hf_name) != s.hf_shape:
            raise ValueError(
                f"{files.file_of(s.hf_name)}: tensor {s.hf_name!r} has shape "
                f"{list(files.shape(s.hf_name))}, but {cfg_source} implies "
                f"{list(s.hf_shape)}"
            )
    tied_head = {"lm_head.weight"} if "lm_head.weight" not in expected else set()
    extra = sorted(n for n in files.names - set(expected) - tied_head if not n.endswith(IGNORED_SUFFIXES))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ValueError(
            f"{files.file_of(extra[0])}: tensor {extra[0]!r}{more} has no place in the model described by {cfg_source}"
        )


def verify_checkpoint(folder: str | os.PathLike, **config_overrides: Any) -> TransformerConfig:
    """The checkpoint's config, after checking that its tensors match it (headers only, no
    weights read): the errors `load_hf_checkpoint` would raise, cheaply and before any training."""
    folder = pathlib.Path(folder)
    cfg, family = read_config(folder, **config_overrides)
    check_tensors(CheckpointFiles(folder), tensor_specs(cfg, family), str(folder / CONFIG_FILE))
    return cfg


def load_hf_checkpoint(folder: str | os.PathLike, mesh: Mesh | None = None, **config_overrides: Any) -> Transformer:
    """A Transformer holding the weights of the HF checkpoint in `folder`, sharded over `mesh`
    (default: the first device) by `sharding.LOGICAL_RULES`.

    `config_overrides` set fields HF does not describe (dtype='float32' for exact comparisons,
    remat, attention, loss_chunk_len); the model's `config` is the merged TransformerConfig.
    """
    folder = pathlib.Path(folder)
    cfg, family = read_config(folder, **config_overrides)
    files = CheckpointFiles(folder)
    specs = tensor_specs(cfg, family)
    check_tensors(files, specs, str(folder / CONFIG_FILE))
    if mesh is None:
        mesh = sharding.make_mesh(devices=jax.devices()[:1])
    graphdef, abstract = sharding._abstract_split(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    shardings = dict(nnx.to_flat_state(sharding.state_shardings(abstract, mesh)))
    by_path: dict[tuple[str, ...], list[TensorSpec]] = {}
    for s in specs:
        by_path.setdefault(s.path, []).append(s)

    loaded = []
    for path, var in nnx.to_flat_state(abstract):
        path = tuple(str(p) for p in path)
        parts = sorted(by_path[path], key=lambda s: -1 if s.layer is None else s.layer)
        array = _assemble(files, parts, var.shape, cfg.weights_dtype, shardings[path].get_value(), cfg.head_dims)
        loaded.append((path, var.replace(array)))
    return nnx.merge(graphdef, nnx.from_flat_state(loaded))


def _assemble(
    files: CheckpointFiles,
    parts: list[TensorSpec],
    shape: tuple[int, ...],
    dtype: np.dtype,
    named_sharding: jax.sharding.NamedSharding,
    head_dim: int,
) -> jax.Array:
    stacked = parts[0].layer is not None

    def shard(index: tuple[slice, ...]) -> np.ndarray:
        if not stacked:
            view = files.tensor(parts[0].hf_name)
            return read_shard(view, parts[0], shape, index, head_dim).astype(dtype)
        first, last = _index_range(index[0], shape[0])
        layers = [
            read_shard(files.tensor(parts[i].hf_name), parts[i], shape[1:], index[1:], head_dim).astype(dtype)
            for i in range(first, last)
        ]
        return np.stack(layers)

    # One device at a time (jax.make_array_from_callback would first read every shard of the
    # parameter, holding a whole parameter on the host).
    shape = tuple(shape)
    arrays = [
        jax.device_put(shard(index), device)
        for device, index in named_sharding.addressable_devices_indices_map(shape).items()
    ]
    return jax.make_array_from_single_device_arrays(shape, named_sharding, arrays)


def save_hf_checkpoint(
    model: Transformer,
    folder: str | os.PathLike,
    family: str,
    dtype: str = "float32",
    max_shard_bytes: int | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Writes `model` as an HF checkpoint of `family` ('llama' or 'qwen2') into `folder`.

    Tensors are fetched and written one layer at a time; `max_shard_bytes` splits the weights
    over several files with a model.safetensors.index.json. Returns the folder.
    """
    cfg = model.config
    folder = pathlib.Path(folder)
    hf_config = config_to_hf(cfg, family, dtype, extra_config)
    params = {tuple(str(p) for p in path): var for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}

    def producer(spec: TensorSpec):
        def produce() -> np.ndarray:
            value = params[spec.path].get_value()
            layer = value if spec.layer is None else value[spec.layer]
            return to_hf_layout(np.asarray(jax.device_get(layer), dtype=np.float32), spec)

        return produce

    tensors = {s.hf_name: (s.hf_shape, producer(s)) for s in tensor_specs(cfg, family)}
    write_checkpoint(folder, tensors, jnp.dtype(dtype), max_shard_bytes)
    (folder / CONFIG_FILE).write_text(json.dumps(hf_config, indent=2))
    return folder
