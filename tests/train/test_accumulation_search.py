"""The smallest gradient-accumulation count that fits: candidates and the search over them."""

from __future__ import annotations

import pytest

from admire_jax.train.accumulation_search import accumulation_counts, smallest_fitting


def test_counts_split_every_shards_rows_into_equal_micro_batches():
    assert accumulation_counts(1024, 8) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert accumulation_counts(24, 2) == [1, 2, 3, 4, 6, 12]
    assert accumulation_counts(4, 4) == [1]
    with pytest.raises(ValueError, match="does not split over 8"):
        accumulation_counts(12, 8)


@pytest.mark.parametrize("counts", [[1], [1, 2], [1, 2, 4, 8, 16, 32, 64, 128], [1, 2, 3, 4, 6, 12]])
def test_the_search_finds_the_smallest_count_that_fits_measuring_each_at_most_once(counts):
    for smallest_fitting_count in [*counts, None]:  # None: no count fits
        measured = []

        def memory(count: int) -> float:
            measured.append(count)
            return 1000.0 / count

        limit = 1000.0 / smallest_fitting_count if smallest_fitting_count else 1.0
        count, figure = smallest_fitting(counts, memory, lambda m: m <= limit)
        assert count == (smallest_fitting_count or counts[-1]) and figure == 1000.0 / count
        assert measured[0] == 1 and len(set(measured)) == len(measured)
        assert len(measured) <= 2 + (len(counts) - 1).bit_length()


def test_no_counts_is_an_error():
    with pytest.raises(ValueError, match="no accumulation counts"):
        smallest_fitting([], lambda count: count, lambda m: True)
