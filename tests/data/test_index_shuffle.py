"""An epoch's item order computed position by position: a permutation, keyed, and well mixed."""

import numpy as np
import pytest

from admire_jax.data.index_shuffle import IndexShuffle


@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 17, 1000, 4099])
def test_every_size_gets_a_permutation(size):
    order = IndexShuffle(size, 7)(np.arange(size))
    assert sorted(order.tolist()) == list(range(size))
    assert IndexShuffle(size, 7)(np.arange(size)[::-1]).tolist() == order[::-1].tolist()  # position by position


def test_keys_pick_different_orders_and_each_item_lands_anywhere():
    n, keys = 500, 300
    orders = np.stack([IndexShuffle(n, k)(np.arange(n)) for k in range(keys)])
    assert len({o.tobytes() for o in orders}) == keys
    where_item_0 = (orders == 0).argmax(axis=1)  # uniform on [0, n): mean (n-1)/2, sd n/sqrt(12)
    assert abs(where_item_0.mean() - (n - 1) / 2) < 4 * (n / np.sqrt(12)) / np.sqrt(keys)
    assert abs(where_item_0.std() - n / np.sqrt(12)) < 0.15 * n / np.sqrt(12)
    neighbours = np.corrcoef(orders[:, :-1].ravel(), orders[:, 1:].ravel())[0, 1]
    assert abs(neighbours) < 0.02  # consecutive positions are unrelated
    fixed_points = (orders == np.arange(n)).sum(axis=1).mean()
    assert fixed_points < 3  # a random permutation has one on average


def test_large_corpora_need_no_array_of_their_size():
    size = 10**12  # a trillion items: only the positions asked for are computed
    items = IndexShuffle(size, 3)(np.array([0, 1, size - 1]))
    assert items.min() >= 0 and items.max() < size and len(set(items.tolist())) == 3


def test_positions_outside_the_epoch_are_refused():
    with pytest.raises(ValueError, match=r"positions must lie in \[0, 10\)"):
        IndexShuffle(10, 0)(np.array([10]))
    with pytest.raises(ValueError, match="size must be >= 1"):
        IndexShuffle(0, 0)(np.array([], dtype=np.int64))
