"""What the Optimizer takes and gives back: a finite candidate pool, proposals and
recommendations; and the padded sizes ("buckets") that keep jitted programs reused."""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

BUCKETS = (32, 64, 128, 256, 384, 512, 640, 768, 1024, 1536, 2048, 3072, 4096)


def bucket(n: int) -> int:
    """Smallest padded size >= n (so that jitted programs are reused as data grows)."""
    for b in BUCKETS:
        if n <= b:
            return b
    return int(2 ** math.ceil(math.log2(n)))


@dataclasses.dataclass
class Pool:
    """Finite candidates: row i is mixture i run at rung fidelities[i]."""

    mixtures: np.ndarray
    fidelities: Sequence[str]


@dataclasses.dataclass
class Proposal:
    mixture: np.ndarray
    fidelity: str
    index: int | None
    acquisition: float


@dataclasses.dataclass
class Recommendation:
    mixture: np.ndarray
    mean: float
    std: float
    index: int | None
