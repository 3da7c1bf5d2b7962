"""Fixed validation examples of a domain: identical tokens on every run and every host.

The validation split's packed stream is cut into consecutive windows from its start (no
shuffling, no seed); the last, partial window is padded (segment id 0, loss mask 0).
"""

from __future__ import annotations

import pathlib

import numpy as np

from admire_jax.data.domain import Domain
from admire_jax.data.packing import pack_windows
from admire_jax.data.stream import token_stream
from admire_jax.data.tokenizer import ByteTokenizer, Tokenizer


def validation_set(
    domain: Domain,
    tokenizer: Tokenizer | None = None,
    seq_len: int = 512,
    num_sequences: int | None = None,
    data_dir: str | pathlib.Path | None = None,
) -> dict[str, np.ndarray]:
    """The first `num_sequences` validation windows of `domain` (all when None), each [N, L].

    ValueError (naming the domain) when the split holds fewer windows than asked for.
    """
    tokenizer = tokenizer or ByteTokenizer()
    if not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer, not {seq_len!r}")
    stream = token_stream(domain, "validation", tokenizer, data_dir)
    available = -(-(len(stream) - 1) // seq_len)  # windows holding at least one target
    if num_sequences is None:
        num_sequences = available
    if not isinstance(num_sequences, (int, np.integer)) or num_sequences < 1:
        raise ValueError(f"num_sequences must be a positive integer, not {num_sequences!r}")
    if num_sequences > available:
        raise ValueError(
            f"domain {domain.name!r} has {len(stream)} validation tokens: "
            f"{available} sequences of length {seq_len}, fewer than the "
            f"{num_sequences} asked for"
        )
    starts_N = np.arange(num_sequences, dtype=np.int64) * seq_len
    return pack_windows(stream, starts_N, seq_len, tokenizer.eos_id, tokenizer.pad_id)
