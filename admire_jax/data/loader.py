"""MixtureLoader: weighted interleaving of domains as a pure function of the step.

`batch(step)` depends only on (seed, step, weights/schedule, process index): nothing has to be
checkpointed, a run resumed at step k sees exactly the batches of an uninterrupted run, and P
processes each build only their own rows of the same global batch.

Per step: each domain gets its exact per-block count (see `weights.py`); the j-th sequence a
domain ever contributes is window (j mod W) of that domain's packed train stream, in an order
reshuffled every epoch (W windows per epoch), so a domain that runs out repeats; the B rows
are then shuffled within the block and process p keeps rows [p * B / P, (p + 1) * B / P).
"""
from __future__ import annotations

import collections
import logging
import pathlib
import zlib
from typing import Any, Sequence

import gin
import numpy as np

from admire_jax.data.domain import Domain, check_unique
from admire_jax.data.packing import pack_windows
from admire_jax.data.stream import TokenStream, token_stream
from admire_jax.data.tokenizer import ByteTokenizer, Tokenizer
from admire_jax.data.weights import Schedule

_PERMUTATIONS_KEPT = 64


@gin.configurable(denylist=["domains", "weights", "tokenizer"])
class MixtureLoader:
    """Batches of packed sequences drawn from `domains` in proportions `weights`.

    Args:
      domains: the D domains (names unique).
      weights: {name: w} (absent names weigh 0), a sequence of D weights, or a schedule
        [(step, weights), ...] starting at step 0.
      seq_len: tokens per sequence (L).
      global_batch: sequences per step over all processes (B); the block of exact proportions.
      seed: shuffling seed.
      tokenizer: defaults to ByteTokenizer().
      process_index / process_count: this host's slice of the global batch.
      data_dir: cache root for token streams (default: see `paths.py`).
    """

    def __init__(self, domains: Sequence[Domain], weights: Any, seq_len: int = 512,
                 global_batch: int = 64, seed: int = 0, tokenizer: Tokenizer | None = None,
                 process_index: int = 0, process_count: int = 1,
                 data_dir: str | pathlib.Path | None = None):
        domains = list(domains)
        if not domains:
            raise ValueError("MixtureLoader needs at least one domain")
        check_unique(domains)
        for label, v in (("seq_len", seq_len), ("global_batch", global_batch),
                         ("process_count", process_count)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{label} must be a positive integer, not {v!r}")
        if global_batch % process_count:
            raise ValueError(f"global_batch {global_batch} is not divisible by "
                             f"process_count {process_count}")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is outside [0, {process_count})")
        self.domains = domains
        self.names = [d.name for d in domains]
        self.seq_len, self.global_batch, self.seed = int(seq_len), int(global_batch), int(seed)
        self.process_index, self.process_count = int(process_index), int(process_count)
        self.local_batch = self.global_batch // self.process_count
        self.tokenizer = tokenizer or ByteTokenizer()
        self.schedule = Schedule.make(weights, self.names, self.global_batch)
        self._store, self._offsets, self.windows = self._load(data_dir)
        self._perms: collections.OrderedDict = collections.OrderedDict()
        self._warned_repeat: set[str] = set()

    def _load(self, data_dir) -> tuple[TokenStream, np.ndarray, np.ndarray]:
        """Concatenates the train streams of the active domains into one store."""
        active = self.schedule.active()
        tokens, doc_ids, doc_starts = [], [], []
        offsets = np.zeros(len(self.domains), dtype=np.int64)
        windows = np.zeros(len(self.domains), dtype=np.int64)
        length, docs = 0, 0
        for i, domain in enumerate(self.domains):
            if not active[i]:
                continue  # zero weight everywhere: never read
            s = token_stream(domain, "train", self.tokenizer, data_dir)
            windows[i] = (len(s) - 1) // self.seq_len
            if windows[i] < 1:
                raise ValueError(f"domain {domain.name!r} has {len(s)} train tokens, fewer than "
                                 f"one sequence of seq_len + 1 = {self.seq_len + 1}")
            offsets[i] = length
            tokens.append(s.tokens)
            doc_ids.append(s.doc_ids + docs)
            doc_starts.append(s.doc_starts + length)
            length, docs = length + len(s), docs + s.num_documents
        store = TokenStream(np.concatenate(tokens), np.concatenate(doc_ids).astype(np.int32),
                            np.concatenate(doc_starts))
        return store, offsets, windows

    def counts_at(self, step: int) -> dict[str, int]:
        """Sequences per domain in the global batch of `step`."""
        k = self.schedule.segment(_check_step(step))
        return dict(zip(self.names, self.schedule.counts[k].tolist()))

    def weights_at(self, step: int) -> dict[str, float]:
        k = self.schedule.segment(_check_step(step))
        return dict(zip(self.names, self.schedule.weights[k].tolist()))

    def epochs(self, step: int) -> dict[str, float]:
        """Passes over each domain's train windows made by steps 0 .. step (inclusive).

        Above 1.0 the domain has run out and is being repeated; 0 for unused domains.
        """
        used_D = self.schedule.consumed(_check_step(step) + 1)
        return {n: float(u / w) if w else 0.0
                for n, u, w in zip(self.names, used_D, self.windows)}

    def domain_rows(self, step: int) -> np.ndarray:
        """[local_batch] domain index of each row of this process's `batch(step)`."""
        return self._rows(_check_step(step))[0]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of the global batch of `step`, each array [B / P, L]."""
        domain_R, seq_R = self._rows(_check_step(step))
        epoch_R, within_R = seq_R // self.windows[domain_R], seq_R % self.windows[domain_R]
        window_R = np.empty_like(within_R)
        for d, e in set(zip(domain_R.tolist(), epoch_R.tolist())):
            rows = (domain_R == d) & (epoch_R == e)
            window_R[rows] = self._permutation(d, e)[within_R[rows]]
            if e > 0 and self.names[d] not in self._warned_repeat:
                self._warned_repeat.add(self.names[d])
                logging.warning("data: domain %r ran out of train tokens at step %d; repeating "
                                "it (epoch %d)", self.names[d], step, e + 1)
        starts_R = self._offsets[domain_R] + window_R * self.seq_len
        return pack_windows(self._store, starts_R, self.seq_len, self.tokenizer.pad_id)

    def _rows(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Domain index and per-domain sequence number of this process's rows."""
        counts_D = self.schedule.counts[self.schedule.segment(step)]
        first_D = self.schedule.consumed(step)
        domain_B = np.repeat(np.arange(len(counts_D)), counts_D)
        rank_B = np.arange(self.global_batch) - np.repeat(np.cumsum(counts_D) - counts_D, counts_D)
        rng = np.random.default_rng([self.seed, step, 0x5EED])
        order_B = rng.permutation(self.global_batch)
        lo = self.process_index * self.local_batch
        mine = order_B[lo:lo + self.local_batch]
        return domain_B[mine], first_D[domain_B[mine]] + rank_B[mine]

    def _permutation(self, d: int, epoch: int) -> np.ndarray:
        key = (d, epoch)
        if key not in self._perms:
            salt = zlib.crc32(self.names[d].encode())
            rng = np.random.default_rng([self.seed, salt, epoch, 0xE90C])
            self._perms[key] = rng.permutation(int(self.windows[d]))
            if len(self._perms) > _PERMUTATIONS_KEPT:
                self._perms.popitem(last=False)
        self._perms.move_to_end(key)
        return self._perms[key]


def _check_step(step: int) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be a non-negative integer, not {step!r}")
    return int(step)
