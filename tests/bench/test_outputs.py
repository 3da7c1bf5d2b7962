"""`admire-jax replay` end to end on a tiny table: summary.json shape, curves.csv, table.md, PNG."""

import json

import numpy as np
import pandas as pd
import pytest

from admire_jax.bench import cli
from admire_jax.bench.metrics import VARIANTS


@pytest.fixture
def table(tmp_path):
    """3 domains; rungs 'proxy' (cost ~0.01) and 'full' (cost 1); two objectives, one with a NaN."""
    rng = np.random.default_rng(0)
    rows = []
    for label, cost, n in (("proxy", 0.01, 30), ("full", 1.0, 6)):
        for i in range(n):
            w = rng.dirichlet(np.ones(3))
            rows.append(
                {
                    "fid": label,
                    "cost": cost * (1 + 0.2 * rng.uniform()),
                    "w:x": w[0],
                    "w:y": w[1],
                    "w:z": w[2],
                    "loss:x": float((w[0] - 0.5) ** 2),
                    "loss:y": float((w[1] - 0.2) ** 2),
                }
            )
    frame = pd.DataFrame(rows)
    frame.loc[3, "loss:y"] = np.nan
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_replay_writes_summary_curves_table_and_plot(table, tmp_path, capsys):
    path, frame = table
    out = tmp_path / "out"
    argv = [
        "--table",
        str(path),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "fid",
        "--objective",
        "loss:x",
        "--objective",
        "loss:y",
        "--minimize",
        "--cost_col",
        "cost",
        "--target_fidelity",
        "full",
        "--methods",
        "regmix,random",
        "--seeds",
        "3",
        "--budget",
        "4",
        "--tol",
        "0.01",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "| regmix |" in captured.out
    assert "episode" in captured.err  # the progress bar
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "table",
        "objective",
        "target_fidelity",
        "seeds",
        "budget",
        "best_target_value",
        "methods",
        "speedup",
        "speedup_ci",
        "censored",
        "per_objective",
        "speedup_geomean",
    ):
        assert key in summary
    assert summary["objective"] == "loss:x" and summary["seeds"] == 3 and summary["budget"] == 4.0
    assert summary["best_target_value"] == frame.loc[frame.fid == "full", "loss:x"].min()
    assert set(summary["per_objective"]) == {"loss:x", "loss:y"}
    assert summary["per_objective"]["loss:y"]["skipped_nan_rows"] == 1
    for method in ("regmix", "random"):
        m = summary["methods"][method]
        assert set(m["cost_to_best"]) == set(VARIANTS)
        for stats in m["cost_to_best"].values():
            assert set(stats) == {"median", "q25", "q75", "solved_fraction"}
            assert stats["q25"] <= stats["median"] <= stats["q75"] <= 4.0
    assert summary["methods"]["random"]["fidelity_counts"]["proxy"] == 0
    assert summary["methods"]["regmix"]["fidelity_counts"] == {"proxy": 90, "full": 0}
    assert summary["methods"]["regmix"]["cost_to_best"]["verified"]["solved_fraction"] == 0.0
    pair = "regmix/random"
    ratios = [s["speedup"][pair] for s in summary["per_objective"].values()]
    assert summary["speedup_geomean"][pair] == pytest.approx(float(np.exp(np.mean(np.log(ratios)))))
    lo, hi = summary["speedup_ci"][pair]
    assert lo <= summary["speedup"][pair] <= hi
    # a median over 3 seeds is only a bound when most of its seeds are censored
    flags = {(False, False): "none", (False, True): "lower_bound", (True, False): "upper_bound", (True, True): "both"}
    for objective in summary["per_objective"].values():
        bound = {
            m: objective["methods"][m]["cost_to_best"]["held"]["solved_fraction"] < 0.5 for m in ("regmix", "random")
        }
        assert objective["censored"][pair] == flags[(bound["regmix"], bound["random"])]
    assert summary["censored"][pair] == summary["per_objective"]["loss:x"]["censored"][pair]

    curves = pd.read_csv(out / "curves.csv")
    assert {"objective", "method", "seed", "step", "cum_cost", "regret"} <= set(curves.columns)
    first = curves[(curves.method == "random") & (curves.seed == 0) & (curves.objective == "loss:x")]
    assert first.step.tolist() == list(range(len(first))) and first.cum_cost.is_monotonic_increasing
    assert (curves.regret >= 0).all()
    assert "### loss:y" in (out / "table.md").read_text()
    assert (out / "regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_declared_costs_and_fidelity_order_run_unchanged_on_other_labels(table, tmp_path, capsys):
    path, frame = table
    frame["fid"] = frame["fid"].map({"proxy": "Qwen2.5-0.5B", "full": "Qwen2.5-7B"})
    frame.to_csv(path, index=False)
    out = tmp_path / "out2"
    argv = [
        "--table",
        str(path),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "fid",
        "--objective",
        "loss:x",
        "--maximize",
        "--fidelity_costs",
        "Qwen2.5-0.5B=95,Qwen2.5-7B=537",
        "--target_fidelity",
        "Qwen2.5-7B",
        "--methods",
        "random,regmix",
        "--seeds",
        "2",
        "--max_steps",
        "regmix=5",
        "--out",
        str(out),
        "--no_progress",
    ]
    assert cli.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fidelity_order"] == ["Qwen2.5-0.5B", "Qwen2.5-7B"]
    assert summary["budget"] == pytest.approx(6 * 537)  # default budget: every target row
    assert summary["best_target_value"] == frame.loc[frame.fid == "Qwen2.5-7B", "loss:x"].max()
    assert summary["methods"]["random"]["cost_to_best"]["held"]["solved_fraction"] == 1.0
    assert "per_objective" not in summary and "random/regmix" in summary["speedup"]
    assert summary["methods"]["regmix"]["stop_reasons"] == {"max_steps": 2}
    assert summary["methods"]["regmix"]["fidelity_counts"]["Qwen2.5-0.5B"] == 2 * 6


def test_first_seed_replays_exactly_those_seeds(table, tmp_path):
    """--first_seed 2 --seeds 2 gives seeds 2 and 3, episode for episode those of a 4-seed replay."""
    path, _ = table
    common = [
        "--table",
        str(path),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "fid",
        "--objective",
        "loss:x",
        "--minimize",
        "--cost_col",
        "cost",
        "--target_fidelity",
        "full",
        "--methods",
        "random,regmix",
        "--budget",
        "3",
        "--no_progress",
    ]
    assert cli.main(common + ["--seeds", "4", "--out", str(tmp_path / "all")]) == 0
    assert cli.main(common + ["--seeds", "2", "--first_seed", "2", "--out", str(tmp_path / "later")]) == 0
    every = pd.read_csv(tmp_path / "all" / "curves.csv")
    later = pd.read_csv(tmp_path / "later" / "curves.csv")
    assert sorted(later.seed.unique()) == [2, 3]
    pd.testing.assert_frame_equal(every[every.seed >= 2].reset_index(drop=True), later.reset_index(drop=True))
    assert json.loads((tmp_path / "later" / "summary.json").read_text())["seeds"] == 2
    assert cli.main(common + ["--first_seed", "-1", "--out", str(tmp_path / "bad")]) == 2
