"""Packing: the exact arrays cut from a hand-made stream."""

import numpy as np

from admire_jax.data.packing import pack_windows

EOS, PAD = 1, 0
#                 0  1  2    3   4   5   6    7   8   9   10
STREAM = np.array([5, 6, EOS, 7, 8, 9, EOS, 10, 11, EOS], dtype=np.uint16)


def test_window_inside_the_stream():
    out = pack_windows(STREAM, np.array([1, 4]), 4, EOS, PAD)
    np.testing.assert_array_equal(out["inputs"], [[6, EOS, 7, 8], [8, 9, EOS, 10]])
    np.testing.assert_array_equal(out["targets"], [[EOS, 7, 8, 9], [9, EOS, 10, 11]])
    np.testing.assert_array_equal(out["segment_ids"], [[1, 1, 2, 2], [1, 1, 1, 2]])
    np.testing.assert_array_equal(out["positions"], [[0, 1, 0, 1], [0, 1, 2, 0]])
    np.testing.assert_array_equal(out["loss_mask"], [[1, 0, 1, 1], [1, 1, 0, 1]])
    assert {k: v.dtype for k, v in out.items()} == {
        "inputs": np.int32,
        "targets": np.int32,
        "loss_mask": np.float32,
        "segment_ids": np.int32,
        "positions": np.int32,
    }


def test_window_past_the_end_is_padded():
    out = pack_windows(STREAM, np.array([6]), 6, EOS, PAD)
    np.testing.assert_array_equal(out["inputs"], [[EOS, 10, 11, EOS, PAD, PAD]])
    np.testing.assert_array_equal(out["targets"], [[10, 11, EOS, PAD, PAD, PAD]])
    np.testing.assert_array_equal(out["segment_ids"], [[1, 2, 2, 2, 0, 0]])
    np.testing.assert_array_equal(out["positions"], [[0, 0, 1, 2, 0, 0]])
    np.testing.assert_array_equal(out["loss_mask"], [[0, 1, 1, 0, 0, 0]])
