"""Packing tokenised conversations into fixed-length rows without crossing example boundaries.

Conversations are placed whole, in order, into rows of `seq_len` input slots (next fit: a
conversation that does not fit in the current row opens a new one; one longer than a row is
cut to it). Every conversation gets its own segment id within its row (1, 2, ...; 0 is
padding), so attention never crosses examples, positions restart at 0 per conversation, and
the loss mask is 1 only where the target token was written by the assistant.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pack_conversations(
    examples: Sequence[tuple[np.ndarray, np.ndarray]], seq_len: int, pad_id: int
) -> dict[str, np.ndarray]:
    """Rows [N, seq_len] (inputs, targets, loss_mask, segment_ids, positions) of `examples`.

    Conversations left with no assistant target after cutting are dropped; ValueError if none
    remains.
    """
    if not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer, not {seq_len!r}")
    rows: list[list[tuple[np.ndarray, np.ndarray]]] = [[]]
    used = 0
    for ids_T, assistant_T in examples:
        ids_T, assistant_T = ids_T[: seq_len + 1], assistant_T[: seq_len + 1]
        if len(ids_T) < 2 or not assistant_T[1:].any():
            continue
        if used + len(ids_T) - 1 > seq_len:
            rows.append([])
            used = 0
        rows[-1].append((ids_T, assistant_T))
        used += len(ids_T) - 1
    if not rows[-1]:
        raise ValueError("no conversation with an assistant target fits the sequence length")
    n = len(rows)
    out = {
        "inputs": np.full((n, seq_len), pad_id, np.int32),
        "targets": np.full((n, seq_len), pad_id, np.int32),
        "loss_mask": np.zeros((n, seq_len), np.float32),
        "segment_ids": np.zeros((n, seq_len), np.int32),
        "positions": np.zeros((n, seq_len), np.int32),
    }
    for r, row in enumerate(rows):
        at = 0
        for segment, (ids_T, assistant_T) in enumerate(row, 1):
            span = slice(at, at + len(ids_T) - 1)
            out["inputs"][r, span] = ids_T[:-1]
            out["targets"][r, span] = ids_T[1:]
            out["loss_mask"][r, span] = assistant_T[1:]
            out["segment_ids"][r, span] = segment
            out["positions"][r, span] = np.arange(len(ids_T) - 1)
            at = span.stop
    return out
