"""MixtureLoader: weighted interleaving of domains as a pure function of the step.

`batch(step)` depends only on (seed, step, weights/schedule, process index): nothing has to be
checkpointed, a run resumed at step k sees exactly the batches of an uninterrupted run, and P
processes each build only their own rows of the same global batch.

Per step: each domain gets its exact per-block count (see `weights.py`); the j-th sequence a
domain ever contributes belongs to epoch e = j // W and is window (j mod W) of that domain's
packed train stream in epoch e's order. Each epoch has its own random order and its own cut
offset (0 .. L-1 tokens), so a domain that runs out repeats with different sequence
boundaries. The B rows are then shuffled within the block and process p keeps rows
[p * B / P, (p + 1) * B / P).
"""

from __future__ import annotations

import collections
import logging
import pathlib
import threading
import zlib
from typing import Any, Sequence

import gin
import numpy as np

from admire_jax.data.domain import Domain, check_unique
from admire_jax.data.packing import pack_windows
from admire_jax.data.stream import token_stream
from admire_jax.data.tokenizer import ByteTokenizer, Tokenizer
from admire_jax.data.weights import Schedule

_LOG = logging.getLogger(__name__)

_EPOCHS_KEPT = 64


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

    def __init__(
        self,
        domains: Sequence[Domain],
        weights: Any,
        seq_len: int = 512,
        global_batch: int = 64,
        seed: int = 0,
        tokenizer: Tokenizer | None = None,
        process_index: int = 0,
        process_count: int = 1,
        data_dir: str | pathlib.Path | None = None,
    ):
        domains = list(domains)
        if not domains:
            raise ValueError("MixtureLoader needs at least one domain")
        check_unique(domains)
        for label, v in (("seq_len", seq_len), ("global_batch", global_batch), ("process_count", process_count)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{label} must be a positive integer, not {v!r}")
        if global_batch % process_count:
            raise ValueError(f"global_batch {global_batch} is not divisible by process_count {process_count}")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is outside [0, {process_count})")
        self.domains = domains
        self.names = [d.name for d in domains]
        self.seq_len, self.global_batch, self.seed = int(seq_len), int(global_batch), int(seed)
        self.process_index, self.process_count = int(process_index), int(process_count)
        self.local_batch = self.global_batch // self.process_count
        self.tokenizer = tokenizer or ByteTokenizer()
        self.schedule = Schedule.make(weights, self.names, self.global_batch)
        self._store, self._offsets, self.windows, self._slack = self._load(data_dir)
        self._epochs: collections.OrderedDict = collections.OrderedDict()
        self._epochs_lock = threading.Lock()  # batch() may run in a prefetch thread
        self._warned_repeat: set[str] = set()

    def _load(self, data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Concatenates the train token streams of the active domains into one store.

        Returns the store, and per domain: its offset in the store, its W windows per epoch and
        the tokens of slack left for cut offsets."""
        active = self.schedule.active()
        tokens = []
        offsets = np.zeros(len(self.domains), dtype=np.int64)
        windows = np.zeros(len(self.domains), dtype=np.int64)
        slack = np.zeros(len(self.domains), dtype=np.int64)
        length = 0
        for i, domain in enumerate(self.domains):
            if not active[i]:
                continue  # zero weight everywhere: never read
            s = token_stream(domain, "train", self.tokenizer, data_dir)
            fits = (len(s) - 1) // self.seq_len
            if fits < 1:
                raise ValueError(
                    f"domain {domain.name!r} has {len(s)} train tokens, fewer than "
                    f"one sequence of seq_len + 1 = {self.seq_len + 1}"
                )
            windows[i] = fits - 1 if fits > 1 else 1  # one window of slack for the epoch offsets
            slack[i] = len(s) - 1 - windows[i] * self.seq_len
            offsets[i] = length
            tokens.append(s)
            length += len(s)
        return np.concatenate(tokens), offsets, windows, slack

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
        return {n: float(u / w) if w else 0.0 for n, u, w in zip(self.names, used_D, self.windows)}

    def domain_rows(self, step: int) -> np.ndarray:
        """[local_batch] domain index of each row of this process's `batch(step)`."""
        return self._rows(_check_step(step))[0]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of the global batch of `step`, each array [B / P, L]."""
        domain_R, seq_R = self._rows(_check_step(step))
        epoch_R, within_R = seq_R // self.windows[domain_R], seq_R % self.windows[domain_R]
        start_R = np.empty_like(within_R)
        for d, e in set(zip(domain_R.tolist(), epoch_R.tolist())):
            rows = (domain_R == d) & (epoch_R == e)
            order_W, cut = self._epoch(d, e)
            start_R[rows] = self._offsets[d] + cut + order_W[within_R[rows]] * self.seq_len
            if e > 0 and self.names[d] not in self._warned_repeat:
                self._warned_repeat.add(self.names[d])
                _LOG.warning(
                    "data: domain %r ran out of train tokens at step %d; repeating it (epoch %d)",
                    self.names[d],
                    step,
                    e + 1,
                )
        return pack_windows(self._store, start_R, self.seq_len, self.tokenizer.eos_id, self.tokenizer.pad_id)

    def _rows(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Domain index and per-domain sequence number of this process's rows."""
        counts_D = self.schedule.counts[self.schedule.segment(step)]
        first_D = self.schedule.consumed(step)
        domain_B = np.repeat(np.arange(len(counts_D)), counts_D)
        rank_B = np.arange(self.global_batch) - np.repeat(np.cumsum(counts_D) - counts_D, counts_D)
        rng = np.random.default_rng([self.seed, step, 0x5EED])
        order_B = rng.permutation(self.global_batch)
        lo = self.process_index * self.local_batch
        mine = order_B[lo : lo + self.local_batch]
        return domain_B[mine], first_D[domain_B[mine]] + rank_B[mine]

    def _epoch(self, d: int, epoch: int) -> tuple[np.ndarray, int]:
        """Window order [W] and cut offset of domain `d` in `epoch` (a pure function of the
        seed, the domain name and the epoch; cached)."""
        key = (d, epoch)
        with self._epochs_lock:
            if key not in self._epochs:
                salt = zlib.crc32(self.names[d].encode())
                rng = np.random.default_rng([self.seed, salt, epoch, 0xE90C])
                cut = int(rng.integers(0, min(int(self._slack[d]), self.seq_len - 1) + 1))
                self._epochs[key] = (rng.permutation(int(self.windows[d])), cut)
                if len(self._epochs) > _EPOCHS_KEPT:
                    self._epochs.popitem(last=False)
            self._epochs.move_to_end(key)
            return self._epochs[key]


def _check_step(step: int) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be a non-negative integer, not {step!r}")
    return int(step)
