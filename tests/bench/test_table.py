"""Table loading for the replay benchmark: column mapping, rung order, renormalisation, bad input."""

import numpy as np
import pandas as pd
import pytest

from admire_jax.bench import cli
from admire_jax.bench.table import TableError, TableSpec, load_tasks, parse_fidelity_costs


def _table(path, n_per_rung=(6, 4, 3), labels=("small", "medium", "large"), costs=(0.01, 0.1, 1.0), seed=0):
    """A tiny 3-domain table; label strings sort opposite to their cost."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, cost, n in zip(labels, costs, n_per_rung):
        for i in range(n):
            w = rng.dirichlet(np.ones(3))
            rows.append(
                {
                    "name": f"{label}-{i}",
                    "size": label,
                    "gpu_hours": cost * (1 + 0.1 * (i % 3)),
                    "ratio_a": w[0],
                    "ratio_b": w[1],
                    "ratio_c": w[2],
                    "acc": float(w[0] - w[1] ** 2),
                    "loss": float(1 + w[1]),
                }
            )
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def _spec(**kw):
    base = dict(
        weights_prefix="ratio_",
        fidelity_col="size",
        objectives=("acc",),
        target_fidelity="large",
        maximize=True,
        cost_col="gpu_hours",
    )
    base.update(kw)
    return TableSpec(**base)


def test_columns_are_mapped_and_rungs_ordered_by_median_cost(tmp_path):
    frame = _table(tmp_path / "t.csv")
    (task,) = load_tasks(str(tmp_path / "t.csv"), _spec())
    assert task.rungs == ("small", "medium", "large")  # not the string order
    assert task.domains == ("a", "b", "c")
    assert task.target_rows.tolist() == [10, 11, 12]
    np.testing.assert_allclose(task.cost_R, frame["gpu_hours"].to_numpy())
    assert task.best_target_value == frame["acc"][10:].max()
    assert task.declared_costs is None


def test_explicit_fidelity_order_and_declared_costs(tmp_path):
    _table(tmp_path / "t.csv")
    spec = _spec(
        cost_col=None,
        fidelity_costs=parse_fidelity_costs("small=0.5,medium=0.2,large=1"),
        fidelity_order=("medium", "small", "large"),
    )
    (task,) = load_tasks(str(tmp_path / "t.csv"), spec)
    assert task.rungs == ("medium", "small", "large")
    assert task.declared_costs == {"medium": 0.2, "small": 0.5, "large": 1.0}
    np.testing.assert_allclose(task.cost_R[:6], 0.5)  # paid cost is the declared one without --cost_col


def test_weights_within_1e_2_are_renormalised(tmp_path):
    frame = _table(tmp_path / "t.csv")
    frame.loc[0, "ratio_a"] += 0.009
    frame.to_csv(tmp_path / "t.csv", index=False)
    (task,) = load_tasks(str(tmp_path / "t.csv"), _spec())
    np.testing.assert_allclose(task.mixtures_RxD.sum(axis=1), 1.0)
    assert task.mixtures_RxD[0, 0] == pytest.approx(frame.loc[0, "ratio_a"] / (1.009))


def test_nan_objectives_are_skipped_and_counted(tmp_path):
    frame = _table(tmp_path / "t.csv")
    frame.loc[[1, 11], "acc"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    task_acc, task_loss = load_tasks(str(tmp_path / "t.csv"), _spec(objectives=("acc", "loss")))
    assert task_acc.skipped_nan_rows == 2 and task_acc.value_R.size == 11
    assert 1 not in task_acc.row_id_R and 11 not in task_acc.row_id_R
    assert task_loss.skipped_nan_rows == 0 and task_loss.value_R.size == 13


def _run_cli(tmp_path, capsys, *extra, objective="acc"):
    argv = [
        "--table",
        str(tmp_path / "t.csv"),
        "--weights_prefix",
        "ratio_",
        "--fidelity_col",
        "size",
        "--objective",
        objective,
        "--maximize",
        "--cost_col",
        "gpu_hours",
        "--target_fidelity",
        "large",
        "--methods",
        "random",
        "--seeds",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--no_progress",
        *extra,
    ]
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "edit, extra, message",
    [
        (lambda f: f.drop(columns=["size"]), (), "--fidelity_col"),
        (lambda f: f, ("--objective", "missing_col"), "missing_col"),
        (lambda f: f.drop(columns=["gpu_hours"]), (), "--cost_col"),
        (lambda f: f.assign(ratio_a=f["ratio_a"] + 0.05), (), "do not sum to 1"),
        (lambda f: f.assign(ratio_a=-f["ratio_a"]), (), "negative"),
        (lambda f: f.assign(acc=np.where(f["size"] == "large", np.nan, f["acc"])), (), "no finite value at target"),
        (lambda f: f.assign(size=f["size"].replace("large", "huge")), (), "target fidelity 'large' has no rows"),
        (lambda f: f.assign(gpu_hours=-1.0), (), "zero or negative"),
        (lambda f: f.assign(acc="bad"), (), "not numeric"),
        (lambda f: f, ("--fidelity_order", "small,large"), "--fidelity_order"),
        (lambda f: f, ("--methods", "random,simplex"), "unknown method"),
        (lambda f: f, ("--n_init", "50"), "--n_init"),
        (lambda f: f, ("--max_steps", "regmix=3"), "--max_steps"),
        (lambda f: f, ("--max_steps", "0"), "--max_steps"),
        (lambda f: f.drop(columns=["ratio_b", "ratio_c"]), (), "--weights_prefix"),
        (lambda f: f, ("--weights-prefix", "ratio_"), "unrecognised argument '--weights-prefix'"),
        (lambda f: f, ("--gin.BOPolicyConfig.pool_size=0",), "BO configuration: pool_size must be an integer >= 1"),
        (lambda f: f, ("--gin.OptimizerConfig.acquisition='ei'",), "unknown acquisition 'ei'"),
        (lambda f: f, ("--gin_file=missing.gin",), "gin file not found: missing.gin"),
    ],
)
def test_bad_input_exits_2_with_a_named_problem(tmp_path, capsys, edit, extra, message):
    edit(_table(tmp_path / "t.csv")).to_csv(tmp_path / "t.csv", index=False)
    code, err = _run_cli(tmp_path, capsys, *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_fidelity_costs_and_missing_file(tmp_path, capsys):
    _table(tmp_path / "t.csv")
    code, err = _run_cli(tmp_path, capsys, "--fidelity_costs", "small=0.1,large=oops")
    assert code == 2 and "large=oops" in err
    code, err = _run_cli(tmp_path, capsys, "--fidelity_costs", "small=0.1,large=1")
    assert code == 2 and "no cost for fidelity label(s) ['medium']" in err
    (tmp_path / "t.csv").unlink()
    code, err = _run_cli(tmp_path, capsys)
    assert code == 2 and "does not exist" in err


def test_missing_required_option_exits_2(capsys):
    assert cli.main(["--table", "x.csv"]) == 2
    assert "required" in capsys.readouterr().err


def test_parse_fidelity_costs_rejects_nonpositive():
    assert parse_fidelity_costs("Qwen2.5-0.5B=95, Qwen2.5-7B=537") == {"Qwen2.5-0.5B": 95.0, "Qwen2.5-7B": 537.0}
    with pytest.raises(TableError, match="1B=0"):
        parse_fidelity_costs("1M=0.001,1B=0")
