"""Weighted mixtures of instruction domains, with the `MixtureLoader` interface.

Each domain's train conversations are packed once into rows (`pack_conversations`, cached on
disk per domain, tokenizer and seq_len for TFDS-backed domains); the order of `batch(step)` is
`interleave.Interleave`'s, shared with `MixtureLoader`, an item being one packed row. Batches
carry assistant-only loss masks and per-conversation segment ids.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
from typing import Any, Sequence

import numpy as np

from admire_jax.data import paths
from admire_jax.data.domain import Domain, check_split, check_unique
from admire_jax.data.instruct import tokenized_examples
from admire_jax.data.instruct_packing import pack_conversations
from admire_jax.data.interleave import Interleave

PACKING_FORMAT = "conv1"  # change when pack_conversations changes: old caches are then unused


@dataclasses.dataclass
class PackedRows:
    """The reader of one instruction domain: its packed rows, each row one item."""

    rows: dict[str, np.ndarray]  # arrays [N, L]
    slack: int = 0  # rows are read whole: no cut offset

    @property
    def items(self) -> int:
        return len(self.rows["inputs"])

    def read(self, index_R: np.ndarray, cut: int) -> dict[str, np.ndarray]:
        return {k: v[index_R] for k, v in self.rows.items()}


class InstructionLoader:
    """Batches of packed conversations drawn from `domains` in proportions `weights`.

    Args as `MixtureLoader`; `tokenizer` must provide `encode_chat` (HFTokenizer).
    """

    def __init__(
        self,
        domains: Sequence[Domain],
        weights: Any,
        seq_len: int,
        global_batch: int,
        seed: int,
        tokenizer,
        process_index: int = 0,
        process_count: int = 1,
        data_dir: str | pathlib.Path | None = None,
    ):
        domains = list(domains)
        if not domains:
            raise ValueError("InstructionLoader needs at least one domain")
        check_unique(domains)
        self.names = [d.name for d in domains]
        self.order = Interleave(self.names, weights, global_batch, seed, process_index, process_count)
        self.seq_len, self.global_batch, self.seed = seq_len, self.order.global_batch, self.order.seed
        self.process_index, self.process_count = self.order.process_index, self.order.process_count
        self.local_batch = self.order.local_batch
        self.schedule = self.order.schedule
        self.tokenizer = tokenizer
        active = self.schedule.active()
        self.readers = [
            PackedRows(packed_rows(d, "train", tokenizer, seq_len, data_dir)) if active[i] else None
            for i, d in enumerate(domains)
        ]

    def counts_at(self, step: int) -> dict[str, int]:
        return self.order.counts_at(step)

    def epochs(self, step: int) -> dict[str, float]:
        """Passes over each domain's packed rows made by steps 0 .. step (inclusive)."""
        return self.order.epochs(step, [r.items if r is not None else 0 for r in self.readers])

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of the global batch of `step`, each array [B / P, L]."""
        return self.order.read(step, self.readers)[0]


def packed_rows(
    domain: Domain, split: str, tokenizer, seq_len: int, data_dir: str | pathlib.Path | None = None
) -> dict[str, np.ndarray]:
    """`pack_conversations` of a domain's split; cached for TFDS-backed domains under
    <data root>/tokens/, keyed by domain and tokenizer fingerprints, seq_len and packing."""
    check_split(split)
    path = None
    if not domain.fingerprint.startswith("mem-"):
        name = f"{domain.name}-{split}-{domain.fingerprint}-{tokenizer.fingerprint}-L{seq_len}-{PACKING_FORMAT}.npz"
        path = paths.resolve(data_dir) / "tokens" / name
        if path.is_file():
            try:
                with np.load(path) as stored:
                    return {k: stored[k] for k in stored.files}
            except (OSError, ValueError):
                pass  # a damaged cache file is rebuilt
    rows = pack_conversations(tokenized_examples(domain, split, tokenizer), seq_len, tokenizer.pad_id)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.npz")
        np.savez(tmp, **rows)
        tmp.replace(path)  # atomic: concurrent builders never see a half-written file
    return rows


def instruct_validation_set(
    domain: Domain,
    tokenizer,
    seq_len: int,
    num_sequences: int | None = None,
    data_dir: str | pathlib.Path | None = None,
) -> dict[str, np.ndarray]:
    """The validation conversations of `domain` packed into rows [N, seq_len] (fixed, no seed)."""
    rows = packed_rows(domain, "validation", tokenizer, seq_len, data_dir)
    available = len(rows["inputs"])
    if num_sequences is not None and num_sequences > available:
        raise ValueError(
            f"domain {domain.name!r} packs into {available} validation rows of length "
            f"{seq_len}, fewer than the {num_sequences} asked for"
        )
    return {k: v[:num_sequences] for k, v in rows.items()}
