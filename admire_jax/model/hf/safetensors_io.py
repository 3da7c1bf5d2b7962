"""Reading and writing the safetensors format without holding tensors in memory.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes. Reading memory-maps the file and hands out
numpy views, so slicing a view reads only the pages of that slice; bfloat16 comes from
`ml_dtypes` (a jax dependency). Writing streams one tensor at a time after a header computed
from shapes alone. A sharded checkpoint (`model.safetensors.index.json`) is a name -> file map.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
from typing import Callable, Iterable, Mapping

import ml_dtypes
import numpy as np

DTYPES = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
CODES = {v: k for k, v in DTYPES.items()}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
_MAX_HEADER = 100 * 2**20


class SafetensorsFile:
    """One memory-mapped .safetensors file: `names`, `shape(name)`, `tensor(name)` (a view)."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        try:
            with open(self.path, "rb") as f:
                (length,) = struct.unpack("<Q", f.read(8))
                if length > _MAX_HEADER:
                    raise ValueError("header length out of range")
                header = json.loads(f.read(length))
        except (OSError, struct.error, ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.path}: not a readable safetensors file ({e})") from None
        header.pop("__metadata__", None)
        self._data_start = 8 + length
        self._entries = header
        self._map = None
        for name, entry in header.items():
            if entry.get("dtype") not in DTYPES:
                raise ValueError(f"{self.path}: tensor {name!r} has unsupported dtype {entry.get('dtype')!r}")

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name]["shape"])

    def tensor(self, name: str) -> np.ndarray:
        """A read-only view of tensor `name`; nothing is read until it is sliced or copied."""
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        entry = self._entries[name]
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        raw = self._map[self._data_start + begin : self._data_start + end]
        if raw.size != int(np.prod(entry["shape"], dtype=np.int64)) * dtype.itemsize:
            raise ValueError(
                f"{self.path}: tensor {name!r}: byte range does not match its shape "
                f"{entry['shape']} and dtype {entry['dtype']}"
            )
        return raw.view(dtype).reshape(entry["shape"])


class CheckpointFiles:
    """The tensors of a checkpoint folder, across its safetensors files (sharded or not)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = pathlib.Path(folder)
        index = self.folder / INDEX_FILE
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (ValueError, KeyError) as e:
                raise ValueError(f"{index}: not a safetensors index (no weight_map: {e})") from None
            files = {
                f: SafetensorsFile(self.folder / f) for f in sorted(set(weight_map.values())) if self._exists(index, f)
            }
            self._where = {}
            for name, f in weight_map.items():
                if name not in files[f].names:
                    raise ValueError(f"{index} puts tensor {name!r} in {files[f].path}, which lacks it")
                self._where[name] = files[f]
        elif (self.folder / SINGLE_FILE).is_file():
            single = SafetensorsFile(self.folder / SINGLE_FILE)
            self._where = {name: single for name in single.names}
        else:
            raise ValueError(f"{self.folder}: no {SINGLE_FILE} or {INDEX_FILE}")

    def _exists(self, index: pathlib.Path, f: str) -> bool:
        if not (self.folder / f).is_file():
            raise ValueError(f"{index} names {f!r}, which is not in {self.folder}")
        return True

    @property
    def names(self) -> set[str]:
        return set(self._where)

    def file_of(self, name: str) -> pathlib.Path:
        return self._where[name].path

    def shape(self, name: str) -> tuple[int, ...]:
        return self._where[name].shape(name)

    def tensor(self, name: str) -> np.ndarray:
        return self._where[name].tensor(name)


def write_checkpoint(
    folder: str | os.PathLike,
    tensors: Mapping[str, tuple[tuple[int, ...], Callable[[], np.ndarray]]],
    dtype: np.dtype,
    max_shard_bytes: int | None = None,
) -> list[pathlib.Path]:
    """Writes `tensors` (name -> (shape, producer)) as safetensors, one producer call at a time.

    With `max_shard_bytes`, tensors go to files model-0000i-of-0000n.safetensors of at most that
    size (a larger tensor gets a file of its own) plus the index; else one model.safetensors.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype)
    size = {n: int(np.prod(shape, dtype=np.int64)) * dtype.itemsize for n, (shape, _) in tensors.items()}
    groups: list[list[str]] = [[]]
    for name in tensors:
        filled = sum(size[n] for n in groups[-1])
        if max_shard_bytes and groups[-1] and filled + size[name] > max_shard_bytes:
            groups.append([])
        groups[-1].append(name)
    if max_shard_bytes is None:
        files = [folder / SINGLE_FILE]
    else:
        files = [folder / f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    for path, names in zip(files, groups):
        _write_file(path, [(n, tensors[n][0], tensors[n][1]) for n in names], dtype)
    if max_shard_bytes is not None:
        weight_map = {n: p.name for p, names in zip(files, groups) for n in names}
        (folder / INDEX_FILE).write_text(
            json.dumps({"metadata": {"total_size": sum(size.values())}, "weight_map": weight_map}, indent=2)
        )
    return files


def _write_file(
    path: pathlib.Path, items: Iterable[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]], dtype: np.dtype
) -> None:
    items = list(items)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in items:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[name] = {"dtype": CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # data starts 8-byte aligned
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape, produce in items:
            array = np.ascontiguousarray(produce(), dtype=dtype)
            if array.shape != tuple(shape):
                raise ValueError(f"tensor {name!r}: produced shape {array.shape}, declared {shape}")
            f.write(array.tobytes())
    tmp.replace(path)
