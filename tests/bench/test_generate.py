"""The table generator: requested Spearman and noise are reached, tables load for the replay, bad input fails."""

import json

import numpy as np
import pytest

from admire_jax.bench import generate_cli
from admire_jax.bench.generate import GeneratorError, GeneratorSpec, generate_table, sidecar_path, write_table
from admire_jax.bench.table import TableSpec, load_tasks

SMALL = {"domains": 8, "cost_ratio": (1.0, 3.0, 6.0), "rows": (300, 150, 64)}


@pytest.mark.parametrize("spearman", [0.9, 0.6, 0.3, 0.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_requested_spearman_is_reached_on_the_noiseless_target_mixtures(spearman, seed):
    _, sidecar = generate_table(GeneratorSpec(**SMALL, spearman=spearman, seed=seed))
    cheapest, middle, _ = sidecar["rungs"]
    assert abs(cheapest["spearman"] - spearman) <= 0.1
    assert abs(middle["spearman"] - (1 + spearman) / 2) <= 0.1
    assert 0.0 <= sidecar["top_decile_agreement"] <= 1.0


@pytest.mark.parametrize("noise", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_noise_is_in_units_of_the_gap_between_the_two_best_noiseless_target_rows(noise, seed):
    spec = GeneratorSpec(**SMALL, noise=noise, seed=seed)
    table, sidecar = generate_table(spec)
    truth = table.loc[table.fidelity == "target", "score_truth"].sort_values().to_numpy()
    gap = truth[-1] - truth[-2]
    assert sidecar["gap"] == pytest.approx(gap)
    achieved = np.std(table["score"] - table["score_truth"]) / gap
    assert achieved == pytest.approx(noise, rel=0.2)
    assert sidecar["noise_achieved"] == pytest.approx(achieved)


def test_noise_zero_makes_observed_equal_truth_and_the_same_seed_the_same_table():
    a, _ = generate_table(GeneratorSpec(**SMALL, noise=0.0, maximize=False, seed=3))
    b, _ = generate_table(GeneratorSpec(**SMALL, noise=0.0, maximize=False, seed=3))
    np.testing.assert_array_equal(a["loss"], a["loss_truth"])
    assert a.equals(b)


def test_a_written_table_loads_for_the_replay_with_its_rungs_costs_and_truth(tmp_path):
    spec = GeneratorSpec(domains=5, cost_ratio=(1.0, 60.0, 1000.0), rows=(200, 80, 60), maximize=False, seed=4)
    path = str(tmp_path / "t.csv")
    sidecar = write_table(path, spec)
    columns = spec.columns
    (task,) = load_tasks(
        path,
        TableSpec(
            columns.weights_prefix,
            columns.fidelity_col,
            (columns.objective,),
            columns.target_fidelity,
            columns.maximize,
            columns.cost_col,
            truth_cols=(columns.truth_col,),
        ),
    )
    assert task.rungs == ("rung0", "rung1", "target") and len(task.domains) == 5
    assert task.target_rows.size == 60 and task.value_R.size == 340
    np.testing.assert_allclose(sorted(set(task.cost_R)), [0.001, 0.06, 1.0])
    assert not task.maximize and task.truth_col == "loss_truth"
    with open(sidecar_path(path), encoding="utf-8") as f:
        assert json.load(f) == json.loads(json.dumps(sidecar))


def test_single_fidelity_table_has_only_the_target_rung():
    table, sidecar = generate_table(GeneratorSpec(domains=4, cost_ratio=(1.0,), rows=(64,)))
    assert set(table.fidelity) == {"target"} and len(table) == 64
    assert sidecar["spearman"] is None


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cost_ratio": (3.0, 1.0), "rows": (5, 5)}, "strictly increasing"),
        ({"rows": (5, 5)}, "same rungs"),
        ({"spearman": 1.5}, "spearman"),
        ({"noise": -1.0}, "noise"),
        ({"domains": 1}, "domains"),
        ({"rows": (10, 10, 1)}, "target's >= 2"),
    ],
)
def test_bad_parameters_name_the_problem(change, message):
    with pytest.raises(GeneratorError, match=message):
        generate_table(GeneratorSpec(**{**SMALL, **change}))


def test_the_command_writes_a_table_and_exits_2_on_bad_input(tmp_path, capsys):
    path = str(tmp_path / "t.csv")
    assert (
        generate_cli.main(
            [
                "--out",
                path,
                "--domains",
                "4",
                "--rows",
                "100,60",
                "--cost_ratio",
                "1:10",
                "--spearman",
                "0.5",
                "--objective",
                "loss",
            ]
        )
        == 0
    )
    assert "--truth_col loss_truth" in capsys.readouterr().out
    with open(sidecar_path(path), encoding="utf-8") as f:
        assert abs(json.load(f)["spearman"] - 0.5) <= 0.1
    assert generate_cli.main(["--out", path, "--rows", "x"]) == 2
    assert generate_cli.main(["--out", path, "--cost_ratio", "6:3:1"]) == 2
    assert generate_cli.main(["--out", path, "--no_such_flag"]) == 2
    assert "error" in capsys.readouterr().err
