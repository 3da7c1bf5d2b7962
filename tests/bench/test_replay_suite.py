"""benchmarks/replay_suite.py on a tiny grid: it runs, resumes without re-running, and summarises."""

import json

import numpy as np
import pandas as pd
import pytest

from admire_jax.bench import replay
from benchmarks import replay_suite

TINY = [
    replay_suite.generated("tiny_score", domains=4, rows=(60, 30, 12), spearman=0.9, maximize=True, seed=1),
    replay_suite.generated("tiny_single", domains=4, cost_ratio=(1.0,), rows=(12,), maximize=False, seed=2),
]
CHEAP_METHODS = ("random", "regmix", "mixing_law")


def test_tiny_grid_runs_writes_its_summary_and_resumes_without_rerunning(tmp_path, monkeypatch):
    out = str(tmp_path)
    summary = replay_suite.run_suite(TINY, out, "unused.csv", CHEAP_METHODS, seeds=2)
    replay_suite.write_summary(out, summary)
    assert set(summary["tables"]) == {"tiny_score", "tiny_single"}
    score = summary["tables"]["tiny_score"]
    assert score["truth_col"] == "score_truth" and abs(score["properties"]["spearman"] - 0.9) <= 0.1
    for cell in score["methods"].values():
        assert len(cell["per_seed"]) == 2 and cell["ci90"][0] <= cell["median"] <= cell["ci90"][1]
    with open(tmp_path / "suite_summary.json", encoding="utf-8") as f:
        assert json.load(f)["tables"]["tiny_single"]["properties"]["cost_ratio"] == "1"
    assert "| tiny_score | 4 | 1:3:6 |" in (tmp_path / "suite_summary.md").read_text()

    def no_new_episodes(*args, **kwargs):
        raise AssertionError("a finished episode was run again")

    monkeypatch.setattr(replay, "run_episode", no_new_episodes)
    again = replay_suite.run_suite(TINY, out, "unused.csv", CHEAP_METHODS, seeds=2)
    assert again["tables"]["tiny_score"]["methods"] == score["methods"]


def _curve(method, seed, fidelities, regrets, costs):
    cum = np.cumsum(costs)
    return pd.DataFrame(
        {
            "method": method,
            "seed": seed,
            "step": np.arange(len(cum)),
            "cum_cost": cum,
            "picked_fidelity": fidelities,
            "regret": regrets,
        }
    )


def test_summary_gives_speedups_bounds_and_mfbos_cheap_share():
    steps = 14
    curves = pd.concat(
        [
            # mfbo: held from step 3 (cost 0.4); after step 10 three cheap runs (0.1 each) and one target run (1.0)
            _curve("mfbo", s, ["c"] * 11 + ["c", "c", "t", "c"], [1] * 3 + [0] * 12, [0.1] * 11 + [0.1, 0.1, 1.0, 0.1])
            for s in range(3)
        ]
        + [_curve("bo", s, ["t"] * steps, [1] * 9 + [0] * 5, [1.0] * steps) for s in range(3)]
        + [_curve("random", s, ["t"] * steps, [1] * steps, [1.0] * steps) for s in range(3)]
    )
    out = replay_suite.summarise_replay(curves, budget=20.0, target="t", methods=["mfbo", "bo", "random"])
    assert out["methods"]["mfbo"]["median"] == pytest.approx(0.4)
    assert out["methods"]["bo"]["median"] == pytest.approx(10.0)
    assert out["methods"]["random"]["median_is_bound"] and out["methods"]["random"]["solved_fraction"] == 0
    assert out["speedups"]["mfbo/bo"]["value"] == pytest.approx(25.0)
    assert out["speedups"]["mfbo/random"]["censored"] == "lower_bound"
    assert out["mfbo_cheap_share_after_10_steps"] == pytest.approx(0.3 / 1.3)


def test_bad_input_exits_2(tmp_path):
    assert replay_suite.main(["--out", str(tmp_path), "--seeds", "0"]) == 2
    assert replay_suite.main(["--out", str(tmp_path), "--grid", "small", "--pile_table", str(tmp_path / "no.csv")]) == 2
    assert replay_suite.main(["--out", str(tmp_path), "--grid", "huge"]) == 2
    assert replay_suite.main(["--out", str(tmp_path), "--grid", "small", "--tables", "s0.3"]) == 2  # full grid only
    assert not (tmp_path / "suite_summary.json").exists()


def test_tables_picks_named_tables_of_the_grid_in_grid_order():
    full = replay_suite.GRIDS["full"]
    picked = replay_suite.select_tables(full, "s0.6_noise0, s0.3", "full")
    assert [t.name for t in picked] == ["s0.3", "s0.6_noise0"]
    assert replay_suite.select_tables(full, None, "full") is full
    with pytest.raises(replay_suite.SuiteError, match="s0.7 not in the full grid"):
        replay_suite.select_tables(full, "s0.3,s0.7", "full")
