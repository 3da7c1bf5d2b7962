"""MixtureLoader: weighted interleaving of domains as a pure function of the step.

`batch(step)` depends only on (seed, step, weights/schedule, process index): nothing has to be
checkpointed, a run resumed at step k sees exactly the batches of an uninterrupted run, and P
processes each build only their own rows of the same global batch.

The order is `interleave.Interleave`'s (shared with `InstructionLoader`); an item is one of
the W windows of L + 1 tokens of a domain's packed train stream, which is memory-mapped from the
token cache (`token_cache.py`). Each epoch has its own random window order, computed position by
position and never stored (`index_shuffle.py`), and its own cut offset (0 .. L-1 tokens), so a
domain that runs out repeats with different sequence boundaries; resident memory does not grow with
the corpus.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Sequence

import gin
import numpy as np

from admire_jax.data.domain import Domain, check_unique
from admire_jax.data.interleave import Interleave
from admire_jax.data.packing import window_examples
from admire_jax.data.stream import token_stream
from admire_jax.data.tokenizer import ByteTokenizer, Tokenizer

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class StreamWindows:
    """The reader of one domain: W windows of a packed token stream per epoch."""

    tokens: np.ndarray  # [T], possibly a memory map
    seq_len: int
    items: int = dataclasses.field(init=False)  # W
    slack: int = dataclasses.field(init=False)  # largest cut offset

    def __post_init__(self):
        fits = (len(self.tokens) - 1) // self.seq_len
        self.items = fits - 1 if fits > 1 else 1  # one window of slack for the epoch offsets
        self.slack = min(len(self.tokens) - 1 - self.items * self.seq_len, self.seq_len - 1)

    def read(self, index_R: np.ndarray, cut: int) -> dict[str, np.ndarray]:
        """{'windows': [R, L + 1] int32}: the tokens of the windows (examples are cut from the
        whole batch at once, `window_examples`)."""
        idx_RxL1 = (cut + index_R * self.seq_len)[:, None] + np.arange(self.seq_len + 1, dtype=np.int64)
        return {"windows": np.asarray(self.tokens[idx_RxL1], dtype=np.int32)}


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
        data_dir: str | os.PathLike | None = None,
    ):
        domains = list(domains)
        if not domains:
            raise ValueError("MixtureLoader needs at least one domain")
        check_unique(domains)
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
            raise ValueError(f"seq_len must be a positive integer, not {seq_len!r}")
        self.domains = domains
        self.names = [d.name for d in domains]
        self.order = Interleave(self.names, weights, global_batch, seed, process_index, process_count)
        self.seq_len, self.global_batch, self.seed = int(seq_len), self.order.global_batch, self.order.seed
        self.process_index, self.process_count = self.order.process_index, self.order.process_count
        self.local_batch = self.order.local_batch
        self.schedule = self.order.schedule
        self.tokenizer = tokenizer or ByteTokenizer()
        self.readers = self._readers(data_dir)
        self.windows = np.asarray([r.items if r is not None else 0 for r in self.readers], dtype=np.int64)
        self._warned_repeat: set[str] = set()

    def _readers(self, data_dir) -> list[StreamWindows | None]:
        """The window reader of each active domain (None for a domain never drawn)."""
        active = self.schedule.active()
        readers = []
        for i, domain in enumerate(self.domains):
            if not active[i]:
                readers.append(None)  # zero weight everywhere: never read
                continue
            tokens = token_stream(domain, "train", self.tokenizer, data_dir)
            if (len(tokens) - 1) // self.seq_len < 1:
                raise ValueError(
                    f"domain {domain.name!r} has {len(tokens)} train tokens, fewer than "
                    f"one sequence of seq_len + 1 = {self.seq_len + 1}"
                )
            readers.append(StreamWindows(tokens, self.seq_len))
        return readers

    def counts_at(self, step: int) -> dict[str, int]:
        """Sequences per domain in the global batch of `step`."""
        return self.order.counts_at(step)

    def weights_at(self, step: int) -> dict[str, float]:
        return self.order.weights_at(step)

    def epochs(self, step: int) -> dict[str, float]:
        """Passes over each domain's train windows made by steps 0 .. step (inclusive).

        Above 1.0 the domain has run out and is being repeated; 0 for unused domains.
        """
        return self.order.epochs(step, self.windows.tolist())

    def domain_rows(self, step: int) -> np.ndarray:
        """[local_batch] domain index of each row of this process's `batch(step)`."""
        return self.order.rows(step)[0]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of the global batch of `step`, each array [B / P, L]."""
        read, repeated = self.order.read(step, self.readers)
        for name in sorted(repeated - self._warned_repeat):
            self._warned_repeat.add(name)
            _LOG.warning("data: domain %r ran out of train tokens at step %d; repeating it", name, step)
        return window_examples(read["windows"], None, self.tokenizer.eos_id)
