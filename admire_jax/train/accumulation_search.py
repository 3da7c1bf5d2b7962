"""The smallest gradient-accumulation count at which a train step fits its device's memory.

A step of B sequences over R batch shards (data x fsdp) holds B / R sequences per device; with
`accum_steps` = k it runs them as k micro-batches of B / (R k), and activation memory falls with
the micro-batch while the parameters and optimiser state stay. `admire-jax validate` uses this to
answer "what does this preset need to fit here" instead of "it does not fit at one micro-batch".
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

Measurement = TypeVar("Measurement")


def accumulation_counts(global_batch: int, batch_shards: int) -> list[int]:
    """The counts a step of `global_batch` sequences over `batch_shards` shards can use, ascending:
    those that split every shard's rows into equal micro-batches (the trainer's rule)."""
    if global_batch < 1 or batch_shards < 1 or global_batch % batch_shards:
        raise ValueError(f"a global batch of {global_batch} does not split over {batch_shards} batch shards")
    per_shard = global_batch // batch_shards
    return [count for count in range(1, per_shard + 1) if per_shard % count == 0]


def smallest_fitting(
    counts: Sequence[int], measure: Callable[[int], Measurement], fits: Callable[[Measurement], bool]
) -> tuple[int, Measurement]:
    """(count, its measurement) for the smallest of the ascending `counts` whose measurement fits;
    where none fits, the largest count (the least memory) and its measurement.

    Memory does not grow with the count (beyond the accumulator's own small buffers, which
    matter only where activations are tiny anyway), so a binary search finds it: the first count is measured
    first (most configs fit without accumulation), then about log2(len(counts)) more. `measure`
    is a compilation, so no count is measured twice."""
    if not counts:
        raise ValueError("no accumulation counts to try")
    measured: dict[int, Measurement] = {}

    def fits_at(index: int) -> bool:
        if index not in measured:
            measured[index] = measure(counts[index])
        return fits(measured[index])

    low, high = 0, len(counts)  # the answer's index lies in [low, high]; len(counts): none fits
    while low < high:
        middle = low if low == 0 else (low + high) // 2
        if fits_at(middle):
            high = middle
        else:
            low = middle + 1
    index = min(low, len(counts) - 1)  # when none fits, the last count was the last one measured
    return counts[index], measured[index]
