"""Cut fixed-length training examples out of a packed token stream.

A window starting at stream offset s covers tokens[s : s + L + 1]: inputs are the first L,
targets the last L. Segment ids number the documents inside the window from 1 (0 marks
padding), positions restart at each document start (or at the window start for a document
that began before it), and the loss mask drops the one target per document boundary that
would ask the model to guess a new document from the previous one.
"""
from __future__ import annotations

import numpy as np

from admire_jax.data.stream import TokenStream

KEYS = ("inputs", "targets", "loss_mask", "segment_ids", "positions")


def pack_windows(stream: TokenStream, starts_B: np.ndarray, seq_len: int,
                 pad_id: int) -> dict[str, np.ndarray]:
    """Returns the examples of the windows starting at `starts_B`, each array [B, seq_len].

    Windows may run past the end of the stream (validation tails): those tokens are padding.
    """
    starts_B = np.asarray(starts_B, dtype=np.int64)
    idx_BxL1 = starts_B[:, None] + np.arange(seq_len + 1, dtype=np.int64)[None, :]
    total = len(stream.tokens)
    padded = bool(len(starts_B)) and int(starts_B.max()) + seq_len + 1 > total
    if padded:
        real_BxL1 = idx_BxL1 < total
        idx_BxL1 = np.minimum(idx_BxL1, total - 1)
    tokens_BxL1 = stream.tokens[idx_BxL1].astype(np.int32)
    docs_BxL1 = stream.doc_ids[idx_BxL1]
    doc_in_BxL = docs_BxL1[:, :-1]
    same_doc_BxL = docs_BxL1[:, 1:] == doc_in_BxL
    segment_ids_BxL = (doc_in_BxL - docs_BxL1[:, :1] + 1).astype(np.int32)
    doc_start_BxL = stream.doc_starts[doc_in_BxL] - starts_B[:, None]
    positions_BxL = (np.arange(seq_len, dtype=np.int64)[None, :]
                     - np.maximum(doc_start_BxL, 0)).astype(np.int32)
    if padded:
        tokens_BxL1 = np.where(real_BxL1, tokens_BxL1, pad_id).astype(np.int32)
        real_in_BxL = real_BxL1[:, :-1]
        same_doc_BxL &= real_BxL1[:, 1:]
        segment_ids_BxL = np.where(real_in_BxL, segment_ids_BxL, 0).astype(np.int32)
        positions_BxL = np.where(real_in_BxL, positions_BxL, 0).astype(np.int32)
    return {
        "inputs": tokens_BxL1[:, :-1],
        "targets": tokens_BxL1[:, 1:],
        "loss_mask": same_doc_BxL.astype(np.float32),
        "segment_ids": segment_ids_BxL,
        "positions": positions_BxL,
    }
