"""The order both loaders share: which rows of which domain make up each step's global batch.

A pure function of (seed, step, weights or schedule, process index), so nothing has to be
checkpointed and P processes each build only their own rows of the same global batch. Per step
each domain gets its exact per-block count (`weights.Schedule`); the j-th item a domain ever
contributes is item (j mod N) of its epoch-(j // N) order (N items per epoch), each epoch with its
own random order and cut offset (an order is never stored: its positions are computed as they are
read, `index_shuffle`, so memory does not grow with the corpus); the B rows are shuffled within
the block and process p keeps rows [p * B / P, (p + 1) * B / P). What an item is belongs to the
source's reader: a window of a packed token stream (`MixtureLoader`) or a packed row of
conversations (`InstructionLoader`).
"""

from __future__ import annotations

import collections
import threading
import zlib
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from admire_jax.data.index_shuffle import IndexShuffle, permute_rows
from admire_jax.data.weights import Schedule

_EPOCHS_KEPT = 256


class Reader(Protocol):
    """One domain's items, read by position."""

    items: int  # items per epoch (N)
    slack: int  # largest cut offset an epoch may start at (0: none)

    def read(self, index_R: np.ndarray, cut: int) -> Mapping[str, np.ndarray]:
        """Items `index_R` (positions in [0, N)) of an epoch cut at `cut`: arrays [R, ...]."""


class Interleave:
    """Rows of each step's batch as (domain, epoch, item), and their reading from `Reader`s."""

    def __init__(
        self,
        names: Sequence[str],
        weights: Any,
        global_batch: int,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
    ):
        for label, v in (("global_batch", global_batch), ("process_count", process_count)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{label} must be a positive integer, not {v!r}")
        if global_batch % process_count:
            raise ValueError(f"global_batch {global_batch} is not divisible by process_count {process_count}")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is outside [0, {process_count})")
        self.names = list(names)
        self.global_batch, self.seed = int(global_batch), int(seed)
        self.process_index, self.process_count = int(process_index), int(process_count)
        self.local_batch = self.global_batch // self.process_count
        self.schedule = Schedule.make(weights, self.names, self.global_batch)
        self._epochs: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()  # batches may be built in a prefetch thread

    def rows(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """[local_batch] domain index and per-domain item number of this process's rows."""
        counts_D = self.schedule.counts[self.schedule.segment(step)]
        first_D = self.schedule.consumed(step)
        domain_B = np.repeat(np.arange(len(counts_D)), counts_D)
        rank_B = np.arange(self.global_batch) - np.repeat(np.cumsum(counts_D) - counts_D, counts_D)
        order_B = np.random.default_rng([self.seed, step, 0x5EED]).permutation(self.global_batch)
        lo = self.process_index * self.local_batch
        mine = order_B[lo : lo + self.local_batch]
        return domain_B[mine], first_D[domain_B[mine]] + rank_B[mine]

    def read(self, step: int, readers: Sequence[Reader | None]) -> tuple[dict[str, np.ndarray], set[str]]:
        """This process's rows of `step`, each array [B / P, ...], read from each domain's reader;
        with the names of the domains that are past their first epoch."""
        domain_R, seq_R = self.rows(check_step(step))
        items_R = np.asarray([readers[d].items for d in domain_R.tolist()], dtype=np.int64)
        epoch_R, within_R = seq_R // items_R, seq_R % items_R
        out: dict[str, np.ndarray] = {}
        repeated = set()
        pairs = list(zip(domain_R.tolist(), epoch_R.tolist()))
        groups = sorted(set(pairs))
        epochs = [self.epoch(d, e, readers[d]) for d, e in groups]
        number = {g: i for i, g in enumerate(groups)}
        group_R = np.asarray([number[p] for p in pairs], dtype=np.int64)
        item_R = permute_rows(within_R, group_R, [order for order, _ in epochs])  # every row in one pass
        for g, (d, e) in enumerate(groups):
            rows = np.flatnonzero(group_R == g)
            for key, value in readers[d].read(item_R[rows], epochs[g][1]).items():
                if key not in out:
                    out[key] = np.empty((len(domain_R), *value.shape[1:]), dtype=value.dtype)
                out[key][rows] = value
            if e > 0:
                repeated.add(self.names[d])
        return out, repeated

    def epoch(self, d: int, epoch: int, reader: Reader) -> tuple[IndexShuffle, int]:
        """Domain `d`'s item order in `epoch` and its cut offset: a pure function of the seed, the
        domain's name and the epoch (the last few kept: each is a handful of numbers)."""
        key = (d, epoch)
        with self._lock:
            if key not in self._epochs:
                salt = zlib.crc32(self.names[d].encode())
                rng = np.random.default_rng([self.seed, salt, epoch, 0xE90C])
                cut = int(rng.integers(0, reader.slack + 1))
                self._epochs[key] = (IndexShuffle(reader.items, int(rng.integers(0, 2**62))), cut)
                if len(self._epochs) > _EPOCHS_KEPT:
                    self._epochs.popitem(last=False)
            self._epochs.move_to_end(key)
            return self._epochs[key]

    def counts_at(self, step: int) -> dict[str, int]:
        """Rows per domain in the global batch of `step`."""
        k = self.schedule.segment(check_step(step))
        return dict(zip(self.names, self.schedule.counts[k].tolist()))

    def weights_at(self, step: int) -> dict[str, float]:
        k = self.schedule.segment(check_step(step))
        return dict(zip(self.names, self.schedule.weights[k].tolist()))

    def epochs(self, step: int, items: Sequence[int]) -> dict[str, float]:
        """Passes over each domain's items made by steps 0 .. step (inclusive); above 1.0 the
        domain has run out and is being repeated; 0 for unused domains (`items` 0)."""
        used_D = self.schedule.consumed(check_step(step) + 1)
        return {n: float(u / w) if w else 0.0 for n, u, w in zip(self.names, used_D, items)}


def check_step(step: int) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be a non-negative integer, not {step!r}")
    return int(step)
