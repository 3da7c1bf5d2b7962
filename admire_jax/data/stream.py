"""A domain split as one packed token stream: documents back to back, each ending in EOS.

Sequence windows are cut from this stream by the loader, so documents are packed without
padding and every token of the split is used once per epoch. EOS occurs only at document
ends (it is removed from inside documents), so windows find document boundaries from the
tokens alone and a stream costs 2 bytes per token (uint16) for vocabularies up to 65536.
Validation streams are cached in memory; streams of TFDS-backed domains also on disk (.npy).
"""

from __future__ import annotations

import os
import pathlib
import threading

import numpy as np

from admire_jax.data import paths
from admire_jax.data.domain import Domain, check_split
from admire_jax.data.tokenizer import Tokenizer

_MEMORY: dict[tuple[str, str, str], np.ndarray] = {}
_LOCK = threading.Lock()


def token_stream(
    domain: Domain, split: str, tokenizer: Tokenizer, data_dir: str | pathlib.Path | None = None
) -> np.ndarray:
    """Returns the packed tokens [T] of `domain`'s `split`, each document ending in EOS
    (uint16 or int32; cached)."""
    check_split(split)
    key = (domain.fingerprint, split, tokenizer.fingerprint)
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
    path = None
    if not domain.fingerprint.startswith("mem-"):
        path = paths.resolve(data_dir) / "tokens" / f"{domain.name}-{split}-{key[0]}-{key[2]}.npy"
    stream = _load(path) if path is not None and path.exists() else None
    if stream is None:
        stream = _tokenize(domain, split, tokenizer)
        if path is not None:
            _save(path, stream)
    if split == "validation":  # small and asked for repeatedly; train streams live in loaders
        with _LOCK:
            _MEMORY[key] = stream
    return stream


def _tokenize(domain: Domain, split: str, tokenizer: Tokenizer) -> np.ndarray:
    pieces = []
    eos = np.asarray([tokenizer.eos_id], dtype=np.int32)
    for doc in domain.documents(split):
        ids = tokenizer.encode(doc)
        ids = ids[ids != tokenizer.eos_id]  # keeps EOS a pure document boundary
        if len(ids) == 0:
            continue
        pieces += [ids, eos]
    if not pieces:
        raise ValueError(f"domain {domain.name!r}: the {split} split has no non-empty documents")
    dtype = np.uint16 if tokenizer.vocab_size <= 2**16 else np.int32
    return np.concatenate(pieces).astype(dtype)


def _save(path: pathlib.Path, tokens: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.npy")
    np.save(tmp, tokens)
    tmp.replace(path)  # atomic: concurrent builders never see a half-written file


def _load(path: pathlib.Path) -> np.ndarray | None:
    try:
        return np.load(path)
    except (OSError, ValueError):
        return None  # a damaged cache file is rebuilt
