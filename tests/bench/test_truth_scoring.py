"""`--truth_col`: methods see the observed column, cost-to-best is scored on the noiseless one."""

import json

import numpy as np
import pandas as pd
import pytest

from admire_jax.bench import cli
from admire_jax.bench.episode import run_episode
from admire_jax.bench.metrics import cost_to_best
from admire_jax.bench.policy import make_random
from admire_jax.bench.store import task_fingerprint
from admire_jax.bench.table import TableError, TableSpec, load_tasks


def _table(path):
    """Two rungs; at the target, row 'b' is best by truth but 'c' is best as observed."""
    frame = pd.DataFrame(
        {
            "fid": ["cheap"] * 4 + ["big"] * 3,
            "w:x": [0.1, 0.4, 0.6, 0.9, 0.2, 0.5, 0.8],
            "cost": [0.1] * 4 + [1.0] * 3,
            "acc": [0.1, 0.2, 0.3, 0.4, 0.50, 0.60, 0.70],
            "acc_true": [0.1, 0.2, 0.3, 0.4, 0.50, 0.65, 0.64],
        }
    )
    frame["w:y"] = 1 - frame["w:x"]
    frame.to_csv(path, index=False)


def _spec(**kw):
    return TableSpec("w:", "fid", ("acc",), "big", True, "cost", **kw)


def test_regret_and_the_best_row_come_from_the_truth_column(tmp_path):
    _table(tmp_path / "t.csv")
    (observed,) = load_tasks(str(tmp_path / "t.csv"), _spec())
    (scored,) = load_tasks(str(tmp_path / "t.csv"), _spec(truth_cols=("acc_true",)))
    np.testing.assert_array_equal(scored.value_R, observed.value_R)  # what the methods see is unchanged
    assert observed.best_target_value == 0.70 and observed.regret(6) == 0.0
    assert scored.best_target_value == 0.65 and scored.regret(5) == 0.0
    assert scored.regret(6) == pytest.approx(0.01)
    assert task_fingerprint(scored) != task_fingerprint(observed)  # stored episodes are not mixed up


def test_a_method_that_picks_by_observed_values_never_holds_the_true_best(tmp_path):
    _table(tmp_path / "t.csv")
    (task,) = load_tasks(str(tmp_path / "t.csv"), _spec(truth_cols=("acc_true",)))
    trace = run_episode(task, make_random, seed=0, budget=10.0)
    assert task.row_id_R[trace.recommended_K[-1]] == 6  # best observed, after seeing every target row
    assert cost_to_best(trace, "held", 10.0).censored


def test_replay_scores_on_the_truth_column_and_rejects_bad_truth_options(tmp_path, capsys):
    _table(tmp_path / "t.csv")
    base = [
        "--table",
        str(tmp_path / "t.csv"),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "fid",
        "--objective",
        "acc",
        "--maximize",
        "--cost_col",
        "cost",
        "--target_fidelity",
        "big",
        "--methods",
        "random,regmix",
        "--seeds",
        "2",
        "--no_progress",
    ]
    assert cli.main(base + ["--truth_col", "acc_true", "--out", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "summary.json", encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["truth_col"] == "acc_true" and summary["best_target_value"] == 0.65
    assert "scored on `acc_true`" in capsys.readouterr().out
    assert cli.main(base + ["--truth_col", "nope", "--out", str(tmp_path / "o2")]) == 2
    assert cli.main(base + ["--truth_col", "acc_true", "--truth_col", "acc", "--out", str(tmp_path / "o3")]) == 2
    assert "one --truth_col per --objective" in capsys.readouterr().err
    refused = ["--gin.AffineCost.intercept=1.0", "--gin.MapFitConfig.max_iters=30", "--out", str(tmp_path / "o4")]
    assert cli.main(base + refused) == 2  # a cost model the replay never builds (it reads the table's costs)
    err = capsys.readouterr().err
    assert "would never be read by the replay: AffineCost.intercept" in err and "MapFitConfig" not in err
    assert not (tmp_path / "o4").exists()


def test_a_truth_column_with_a_gap_at_the_target_is_refused(tmp_path):
    _table(tmp_path / "t.csv")
    frame = pd.read_csv(tmp_path / "t.csv")
    frame.loc[5, "acc_true"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TableError, match="not finite"):
        load_tasks(str(tmp_path / "t.csv"), _spec(truth_cols=("acc_true",)))
