"""Random permutations of [0, N) read one position at a time, in memory that does not grow with N.

An epoch's order of a domain's items used to be an array of N indices, so a loader's resident
memory grew with the corpus. Here position i of the order is computed from (key, i) alone: a
keyed Feistel network (Luby and Rackoff 1988) is a bijection on [0, 4^h) for any round function,
and walking the cycle (applying it again while the value is >= N) restricts it to a bijection on
[0, N) (Black and Rogaway 2002). With 4^h < 4N a walk takes under four steps on average. Rows of
different permutations (each its own size and key) are computed together, one pass for a batch.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

ROUNDS = 6  # four make a strong pseudo-random permutation of the rounds' outputs; six leave margin
ORDER_VERSION = "feistel-v1"  # recorded in a run's data fingerprints: an order change is a data change

_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_C1, _C2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


@dataclasses.dataclass(frozen=True)
class IndexShuffle:
    """The permutation of [0, size) that `key` (any non-negative integer) picks; the same (size,
    key) always give the same permutation. Holds a few round keys, whatever the size."""

    size: int
    key: int

    def __post_init__(self):
        if int(self.size) < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")

    @functools.cached_property
    def round_keys(self) -> np.ndarray:
        """[ROUNDS] uint64 round keys drawn from `key`."""
        return np.random.default_rng([int(self.key), 0xF3157E1]).integers(0, 2**63, size=ROUNDS, dtype=np.uint64)

    def __call__(self, position: np.ndarray) -> np.ndarray:
        """Item at each `position` (integers in [0, size)) of the permutation."""
        position = np.asarray(position, dtype=np.int64)
        rows = np.zeros(position.shape, dtype=np.int64)
        return permute_rows(position, rows, [self])


def permute_rows(position_R: np.ndarray, which_R: np.ndarray, shuffles: list[IndexShuffle]) -> np.ndarray:
    """Item at `position_R[r]` of permutation `shuffles[which_R[r]]`, for every row r at once."""
    position_R = np.asarray(position_R, dtype=np.int64)
    size_R = np.asarray([s.size for s in shuffles], dtype=np.int64)[which_R]
    if position_R.size and ((position_R < 0).any() or (position_R >= size_R).any()):
        bad = int(np.flatnonzero((position_R < 0) | (position_R >= size_R))[0])
        raise ValueError(f"positions must lie in [0, {size_R[bad]})")
    halves = np.asarray([max(1, (int(s.size - 1).bit_length() + 1) // 2) for s in shuffles], dtype=np.uint64)
    keys_SxK = np.stack([s.round_keys for s in shuffles])
    half_R, keys_RxK, limit_R = halves[which_R], keys_SxK[which_R], size_R.astype(np.uint64)
    value = _feistel(position_R.astype(np.uint64), half_R, keys_RxK)
    walking = np.flatnonzero(value >= limit_R)
    while walking.size:
        value[walking] = _feistel(value[walking], half_R[walking], keys_RxK[walking])
        walking = walking[value[walking] >= limit_R[walking]]
    return value.astype(np.int64)


def _feistel(value: np.ndarray, half: np.ndarray, keys_RxK: np.ndarray) -> np.ndarray:
    """One pass of the balanced Feistel network on each row's `half`-bit halves: a bijection on
    [0, 4^half) per row."""
    mask = (np.uint64(1) << half) - np.uint64(1)
    left, right = value >> half, value & mask
    for k in range(keys_RxK.shape[1]):
        left, right = right, left ^ (_mix(right ^ keys_RxK[:, k]) & mask)
    return (left << half) | right


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches every output bit (uint64 arrays wrap, as
    its products must)."""
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)
