"""The rank-agreement report of benchmarks/rung_agreement.py (its statistics, not its training)."""

from __future__ import annotations

import pytest

from benchmarks import rung_agreement


def _run(preset, mixture, mean, target):
    return {
        "preset": preset,
        "mixture_name": mixture,
        "objectives": {"mean_train_domains": mean, "python_reference": target},
    }


def test_spearman_per_pair_over_shared_mixtures():
    losses = {
        "1m": {"a": 3.0, "b": 3.2, "c": 3.1, "d": 3.5},
        "10m": {"a": 2.0, "b": 2.3, "c": 2.1, "d": 2.2},
        "60m": {"a": 1.5, "b": 1.4, "c": 1.6},
    }  # 60m lacks mixture d
    rows = {(r["a"], r["b"]): r for r in rung_agreement.rank_agreement(losses)}
    assert rows["1m", "10m"]["spearman"] == pytest.approx(0.8)  # ranks 1,3,2,4 vs 1,4,2,3
    assert rows["1m", "60m"]["n"] == 3
    assert rows["1m", "60m"]["spearman"] == pytest.approx(-0.5)  # ranks 1,3,2 vs 2,1,3
    with pytest.raises(ValueError, match="need >= 3"):
        rung_agreement.rank_agreement({"x": {"a": 1.0, "b": 2.0}, "y": {"a": 1.0, "b": 2.0}})


def test_markdown_ranks_mixtures_within_each_preset():
    runs = [
        _run("1m", "u", 3.0, 3.3),
        _run("1m", "c", 3.4, 3.1),
        _run("10m", "u", 2.9, 3.0),
        _run("10m", "c", 2.5, 3.2),
    ]
    agreement = {o: [] for o in rung_agreement.OBJECTIVES}
    table = rung_agreement.markdown(runs, agreement)
    assert "| u | 3.0000 (1) | 2.9000 (2) |" in table
    assert "| c | 3.4000 (2) | 2.5000 (1) |" in table
    assert "| u | 3.3000 (2) | 3.0000 (1) |" in table


def test_a_run_without_finite_losses_is_refused():
    val_loss = {d: 3.0 for d in rung_agreement.TRAIN_DOMAINS} | {"python_reference": None}
    with pytest.raises(ValueError, match="finite validation loss"):
        rung_agreement.objectives(val_loss)
    val_loss["python_reference"] = 2.5
    assert rung_agreement.objectives(val_loss) == {"mean_train_domains": 3.0, "python_reference": 2.5}


def test_unigram_losses_score_the_mixtures_byte_frequencies():
    import numpy as np

    frequencies = {"a": np.array([0.5, 0.5, 0.0, 0.0]), "b": np.array([0.0, 0.0, 0.5, 0.5])}
    windows = {
        "a": {"targets": np.array([[0, 1, 0]]), "loss_mask": np.array([[1.0, 1.0, 0.0]])},
        "b": {"targets": np.array([[3, 2]]), "loss_mask": np.array([[1.0, 1.0]])},
    }
    losses = rung_agreement.unigram_losses({"a": 0.8, "b": 0.2}, frequencies, windows)
    assert losses["a"] == pytest.approx(-np.log(0.4))  # masked position ignored
    assert losses["b"] == pytest.approx(-np.log(0.1))
