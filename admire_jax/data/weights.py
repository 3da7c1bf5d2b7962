"""Mixture weights and weight schedules, and their exact per-block sequence counts.

A block is one global batch of B sequences. Weights w (normalised to sum 1) give each domain
n_i sequences per block by largest-remainder rounding of w_i * B, so counts always sum to B
and a zero weight always gets zero. A schedule [(step, w), ...] switches weights at the
given steps; counts stay constant within each segment, which keeps "how many sequences of
domain i came before step t" a closed-form sum (the loader needs no saved state).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np


def parse_weights(weights: Any, names: Sequence[str]) -> np.ndarray:
    """Returns weights [D] aligned to `names`, normalised; ValueError names any culprit.

    `weights` is a mapping name -> weight (names left out weigh 0) or a sequence of D numbers.
    """
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ValueError(f"mixture names unknown domains {unknown}; domains are {list(names)}")
        values = [weights.get(n, 0.0) for n in names]
    else:
        values = list(np.asarray(weights, dtype=np.float64).reshape(-1))
        if len(values) != len(names):
            raise ValueError(f"{len(values)} weights given for {len(names)} domains {list(names)}")
    out = np.zeros(len(names), dtype=np.float64)
    for i, (name, v) in enumerate(zip(names, values)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"weight of domain {name!r} is not a number: {v!r}") from None
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"weight of domain {name!r} is {v}")
        if v < 0:
            raise ValueError(f"weight of domain {name!r} is negative: {v}")
        out[i] = v
    if out.sum() <= 0:
        raise ValueError(f"all weights are zero for domains {list(names)}")
    return out / out.sum()


def mixture_weights(mixture: Mapping[str, float] | None, names: Sequence[str]) -> dict[str, float]:
    """{name: weight} over every name of `names`, normalised (`parse_weights`); uniform when None.

    The one normalisation of a mixture: the trainer's data, instruction data and the experiment's
    proposals all go through it."""
    weights = parse_weights({n: 1.0 for n in names} if mixture is None else mixture, names)
    return dict(zip(names, weights.tolist()))


def block_counts(w_D: np.ndarray, block: int) -> np.ndarray:
    """Largest-remainder rounding of w * block: int counts [D] summing to `block`.

    Ties in the remainder go to the lower domain index, so the result is deterministic.
    """
    quota_D = w_D * block
    counts_D = np.floor(quota_D).astype(np.int64)
    left = block - int(counts_D.sum())
    if left > 0:
        order = np.lexsort((np.arange(len(w_D)), -(quota_D - counts_D)))
        counts_D[order[:left]] += 1
    return counts_D


def _is_schedule(weights: Any) -> bool:
    if isinstance(weights, (Mapping, np.ndarray)) or not isinstance(weights, Sequence):
        return False
    return len(weights) > 0 and all(
        isinstance(e, Sequence)
        and not isinstance(e, str)
        and len(e) == 2
        and isinstance(e[1], (Mapping, Sequence, np.ndarray))
        for e in weights
    )


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Piecewise-constant weights over training steps."""

    starts: np.ndarray  # [K] int64, first step of each segment; starts[0] == 0
    weights: np.ndarray  # [K, D] float64, rows sum to 1
    counts: np.ndarray  # [K, D] int64, sequences per block; rows sum to the block size

    @classmethod
    def make(cls, weights: Any, names: Sequence[str], block: int) -> "Schedule":
        """From a weight mapping/sequence (constant) or a list of (step, weights) pairs."""
        entries = list(weights) if _is_schedule(weights) else [(0, weights)]
        starts = []
        for step, _ in entries:
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
                raise ValueError(f"schedule step {step!r} is not an integer")
            starts.append(int(step))
        if starts[0] != 0:
            raise ValueError(f"weight schedule must start at step 0, not {starts[0]}")
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"weight schedule steps {starts} are not strictly increasing")
        w_KxD = np.stack([parse_weights(w, names) for _, w in entries])
        counts_KxD = np.stack([block_counts(w, block) for w in w_KxD])
        return cls(np.asarray(starts, dtype=np.int64), w_KxD, counts_KxD)

    def segment(self, step: int) -> int:
        return int(np.searchsorted(self.starts, step, side="right") - 1)

    def consumed(self, step: int) -> np.ndarray:
        """Sequences [D] drawn from each domain by steps 0 .. step - 1."""
        ends_K = np.append(self.starts[1:], np.iinfo(np.int64).max)
        steps_K = np.clip(np.minimum(ends_K, step) - self.starts, 0, None)
        return (steps_K[:, None] * self.counts).sum(axis=0)

    def active(self) -> np.ndarray:
        """[D] bool: domains that get sequences in some segment."""
        return self.counts.sum(axis=0) > 0
