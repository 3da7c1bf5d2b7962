"""A domain split as one packed token stream: documents back to back, each ending in EOS.

Sequence windows are cut from this stream by the loader, so documents are packed without
padding and every token of the split is used once per epoch. EOS occurs only at document
ends (it is removed from inside documents), so windows find document boundaries from the
tokens alone and a stream costs 2 bytes per token (uint16) for vocabularies up to 65536.
Streams of stored domains live in the on-disk token cache and are memory-mapped
(`token_cache.py`); streams of in-memory domains are tokenised in memory, kept for validation.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from admire_jax.data.domain import Domain, check_split
from admire_jax.data.token_cache import EmptySplitError, cached_tokens, stream_dtype, tokenise_documents
from admire_jax.data.tokenizer import Tokenizer

_MEMORY: dict[tuple[str, str, str], np.ndarray] = {}
_LOCK = threading.Lock()


def token_stream(
    domain: Domain, split: str, tokenizer: Tokenizer, data_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """Returns the packed tokens [T] of `domain`'s `split`, each document ending in EOS
    (uint16 or uint32; a read-only memory map for stored domains)."""
    check_split(split)
    if not is_in_memory(domain):
        return cached_tokens(domain, split, tokenizer, data_dir)
    key = (domain.fingerprint, split, tokenizer.fingerprint)
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
    ids, _, _ = tokenise_documents(domain, split, tokenizer, 0, domain.count(split))
    if not len(ids):
        raise EmptySplitError(f"domain {domain.name!r}: the {split} split has no non-empty documents")
    stream = ids.astype(stream_dtype(tokenizer))
    if split == "validation":  # small and asked for repeatedly; train streams live in loaders
        with _LOCK:
            _MEMORY[key] = stream
    return stream


def is_in_memory(domain: Domain) -> bool:
    """Whether `domain`'s text lives in this process only (`memory_domain`): never cached on disk."""
    return domain.fingerprint.startswith("mem-")
