"""Cut fixed-length training examples out of a packed token stream.

A window starting at stream offset s covers tokens[s : s + L + 1]: inputs are the first L,
targets the last L. Every document in the stream ends in exactly one EOS, so document
boundaries inside a window are read off the tokens themselves (no per-token document index
is stored): segment ids number the documents in the window from 1 (0 marks padding),
positions restart after every EOS (and at the window start), and the loss mask drops the one
target per boundary that would ask the model to guess a new document from the previous one.
"""

from __future__ import annotations

import numpy as np


def pack_windows(
    tokens: np.ndarray, starts_B: np.ndarray, seq_len: int, eos_id: int, pad_id: int
) -> dict[str, np.ndarray]:
    """Returns the examples of the windows starting at `starts_B`, each array [B, seq_len].

    Windows may run past the end of `tokens` (validation tails): those tokens are padding.
    `tokens` may be a memory map: only the windows' tokens are read.
    """
    starts_B = np.asarray(starts_B, dtype=np.int64)
    idx_BxL1 = starts_B[:, None] + np.arange(seq_len + 1, dtype=np.int64)[None, :]
    total = len(tokens)
    if not (bool(len(starts_B)) and int(starts_B.max()) + seq_len + 1 > total):
        return window_examples(np.asarray(tokens[idx_BxL1], dtype=np.int32), None, eos_id)
    real_BxL1 = idx_BxL1 < total
    tokens_BxL1 = np.where(real_BxL1, tokens[np.minimum(idx_BxL1, total - 1)], pad_id).astype(np.int32)
    return window_examples(tokens_BxL1, real_BxL1, eos_id)


def window_examples(tokens_BxL1: np.ndarray, real_BxL1: np.ndarray | None, eos_id: int) -> dict[str, np.ndarray]:
    """The examples of windows of L + 1 tokens (int32); `real_BxL1` marks tokens that are not
    padding (None: all are real)."""
    seq_len = tokens_BxL1.shape[1] - 1
    inputs_BxL, targets_BxL = tokens_BxL1[:, :-1], tokens_BxL1[:, 1:]
    is_eos_BxL = inputs_BxL == eos_id
    starts_doc_BxL = np.empty_like(is_eos_BxL)
    starts_doc_BxL[:, 0] = True
    starts_doc_BxL[:, 1:] = is_eos_BxL[:, :-1]
    segment_ids_BxL = np.cumsum(starts_doc_BxL, axis=1, dtype=np.int32)
    t_L = np.arange(seq_len, dtype=np.int32)
    last_start_BxL = np.maximum.accumulate(np.where(starts_doc_BxL, t_L, 0), axis=1)
    positions_BxL = t_L - last_start_BxL
    loss_mask_BxL = ~is_eos_BxL
    if real_BxL1 is not None:
        real_in_BxL = real_BxL1[:, :-1]
        loss_mask_BxL &= real_BxL1[:, 1:]
        segment_ids_BxL = np.where(real_in_BxL, segment_ids_BxL, 0).astype(np.int32)
        positions_BxL = np.where(real_in_BxL, positions_BxL, 0).astype(np.int32)
    return {  # contiguous arrays, ready for a host-to-device copy
        "inputs": np.ascontiguousarray(inputs_BxL),
        "targets": np.ascontiguousarray(targets_BxL),
        "loss_mask": loss_mask_BxL.astype(np.float32),
        "segment_ids": segment_ids_BxL,
        "positions": positions_BxL.astype(np.int32),
    }
