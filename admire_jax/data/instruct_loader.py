"""Weighted mixtures of instruction domains, with the `MixtureLoader` interface.

Each domain's train conversations are packed once into rows (`pack_conversations`, cached on
disk per domain, tokenizer and seq_len for TFDS-backed domains); `batch(step)`
is a pure function of (seed, step, weights, process index) as in `MixtureLoader`: per step each
domain gets its exact count of rows (`weights.Schedule`), the j-th row a domain contributes is
row (j mod R) of its epoch-(j // R) permutation, and process p keeps its slice of the shuffled
global batch. Batches carry assistant-only loss masks and per-conversation segment ids.
"""

from __future__ import annotations

import os
import pathlib
import threading
import zlib
from typing import Any, Sequence

import numpy as np

from admire_jax.data import paths
from admire_jax.data.domain import Domain, check_split, check_unique
from admire_jax.data.instruct import tokenized_examples
from admire_jax.data.instruct_packing import pack_conversations
from admire_jax.data.weights import Schedule

PACKING_FORMAT = "conv1"  # change when pack_conversations changes: old caches are then unused


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
        if global_batch < 1 or global_batch % process_count:
            raise ValueError(
                f"global_batch {global_batch} must be positive and divisible by process_count {process_count}"
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is outside [0, {process_count})")
        self.names = [d.name for d in domains]
        self.seq_len, self.global_batch, self.seed = seq_len, global_batch, seed
        self.process_index, self.process_count = process_index, process_count
        self.local_batch = global_batch // process_count
        self.tokenizer = tokenizer
        self.schedule = Schedule.make(weights, self.names, global_batch)
        active = self.schedule.active()
        self.rows = [
            packed_rows(d, "train", tokenizer, seq_len, data_dir) if active[i] else None for i, d in enumerate(domains)
        ]

    def counts_at(self, step: int) -> dict[str, int]:
        counts = self.schedule.counts[self.schedule.segment(step)]
        return dict(zip(self.names, counts.tolist()))

    def epochs(self, step: int) -> dict[str, float]:
        """Passes over each domain's packed rows made by steps 0 .. step (inclusive)."""
        used = self.schedule.consumed(step + 1)
        return {
            n: float(u / len(r["inputs"])) if r is not None else 0.0 for n, u, r in zip(self.names, used, self.rows)
        }

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of the global batch of `step`, each array [B / P, L]."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative integer, not {step!r}")
        counts_D = self.schedule.counts[self.schedule.segment(step)]
        first_D = self.schedule.consumed(step)
        picks = []  # (domain, row) for the whole global batch
        for d, count in enumerate(counts_D):
            for j in range(first_D[d], first_D[d] + count):
                num_rows = len(self.rows[d]["inputs"])
                picks.append((d, self._order(d, j // num_rows, num_rows)[j % num_rows]))
        order = np.random.default_rng([self.seed, step, 0x1257]).permutation(self.global_batch)
        lo = self.process_index * self.local_batch
        mine = [picks[i] for i in order[lo : lo + self.local_batch]]
        return {k: np.stack([self.rows[d][k][r] for d, r in mine]) for k in self.rows[mine[0][0]]}

    def _order(self, d: int, epoch: int, num_rows: int) -> np.ndarray:
        salt = zlib.crc32(self.names[d].encode())
        return np.random.default_rng([self.seed, salt, epoch]).permutation(num_rows)


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
