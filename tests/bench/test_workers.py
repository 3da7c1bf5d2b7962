"""Episodes in worker processes, kept on disk and reused; the benchmark command on a Qwen-style table."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from admire_jax.bench import cli, replay


def _table(tmp_path, rungs, cost_col, objective, seed=0):
    """3 domains; `rungs` = ((label, cost, rows), ...); the objective peaks at w = (0.6, 0.3, 0.1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, cost, n in rungs:
        for _ in range(n):
            w = rng.dirichlet(np.ones(3))
            score = -float(np.sum((w - [0.6, 0.3, 0.1]) ** 2)) * (1 + 0.1 * rng.uniform())
            rows.append(
                {
                    "model": label,
                    cost_col: cost * (1 + 0.2 * rng.uniform()),
                    "w:a": w[0],
                    "w:b": w[1],
                    "w:c": w[2],
                    objective: score,
                }
            )
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # rows in no particular order
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _argv(path, out, *extra):
    return [
        "--table",
        str(path),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "model",
        "--objective",
        "score",
        "--maximize",
        "--cost_col",
        "cost",
        "--target_fidelity",
        "big",
        "--methods",
        "regmix,random",
        "--seeds",
        "3",
        "--budget",
        "3",
        "--out",
        str(out),
        "--no_progress",
        *extra,
    ]


def test_workers_give_the_same_episodes_and_stored_episodes_are_reused(tmp_path, monkeypatch, capsys):
    path, _ = _table(tmp_path, (("small", 0.01, 20), ("big", 1.0, 6)), "cost", "score")
    assert cli.main(_argv(path, tmp_path / "serial")) == 0
    assert cli.main(_argv(path, tmp_path / "parallel", "--workers", "2")) == 0
    serial = pd.read_csv(tmp_path / "serial" / "curves.csv")
    pd.testing.assert_frame_equal(serial, pd.read_csv(tmp_path / "parallel" / "curves.csv"))
    assert len(os.listdir(tmp_path / "serial" / "episodes")) == 2 * 3

    def no_new_episodes(*args, **kwargs):
        raise AssertionError("an episode was replayed although it was stored")

    monkeypatch.setattr(replay, "run_episode", no_new_episodes)
    assert cli.main(_argv(path, tmp_path / "serial")) == 0  # every episode comes from the store
    pd.testing.assert_frame_equal(serial, pd.read_csv(tmp_path / "serial" / "curves.csv"))
    # the BO engine's configuration is no part of the key of methods that do not use it
    assert cli.main(_argv(path, tmp_path / "serial", "--gin.BOPolicyConfig.pool_size=4")) == 0
    with pytest.raises(AssertionError, match="was stored"):  # a different budget is a different episode
        cli.main(_argv(path, tmp_path / "serial", "--budget", "2"))
    monkeypatch.undo()
    assert cli.main(_argv(path, tmp_path / "serial", "--seeds", "4")) == 0  # one more seed: only it runs
    summary = json.loads((tmp_path / "serial" / "summary.json").read_text())
    assert summary["seeds"] == 4


def test_bad_worker_count_exits_2(tmp_path, capsys):
    path, _ = _table(tmp_path, (("small", 0.01, 5), ("big", 1.0, 2)), "cost", "score")
    assert cli.main(_argv(path, tmp_path / "out", "--workers", "0")) == 2
    assert "--workers" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_command_runs_unchanged_on_a_qwen_table_with_train_time_and_accuracy(tmp_path):
    """The Pile benchmark's command (methods, gin file, running-mean costs) with only the column
    mapping changed: three model sizes as rungs, a `train_time` cost column, accuracy maximised."""
    rungs = (("Qwen2.5-7B", 537.0, 4), ("Qwen2.5-0.5B", 95.0, 16), ("Qwen2.5-3B", 240.0, 6))
    path, frame = _table(tmp_path, rungs, "train_time", "accuracy", seed=3)
    out = tmp_path / "out"
    argv = [
        "--table",
        str(path),
        "--weights_prefix",
        "w:",
        "--fidelity_col",
        "model",
        "--objective",
        "accuracy",
        "--maximize",
        "--cost_col",
        "train_time",
        "--target_fidelity",
        "Qwen2.5-7B",
        "--methods",
        "mfbo,bo,random,regmix",
        "--seeds",
        "2",
        "--budget",
        "2200",
        "--max_steps",
        "mfbo=3",
        "--gin_file=configs/replay/bo_fast.gin",
        "--out",
        str(out),
        "--no_progress",
    ]
    assert cli.main(argv) == 0  # budget > the initial row + 3 runs of the target: mfbo stops at its step cap
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fidelity_order"] == ["Qwen2.5-0.5B", "Qwen2.5-3B", "Qwen2.5-7B"]
    assert summary["best_target_value"] == frame.loc[frame.model == "Qwen2.5-7B", "accuracy"].max()
    assert set(summary["speedup"]) == {"mfbo/bo", "mfbo/random", "mfbo/regmix"}
    assert summary["methods"]["mfbo"]["stop_reasons"] == {"max_steps": 2}
    assert sum(summary["methods"]["mfbo"]["fidelity_counts"].values()) == 2 * (1 + 3)
    assert summary["methods"]["bo"]["fidelity_counts"]["Qwen2.5-0.5B"] == 0
    regmix_counts = summary["methods"]["regmix"]["fidelity_counts"]
    assert regmix_counts["Qwen2.5-0.5B"] > 0 and regmix_counts["Qwen2.5-3B"] == regmix_counts["Qwen2.5-7B"] == 0
    curves = pd.read_csv(out / "curves.csv")
    assert (pd.read_csv(path)["model"].iloc[curves.recommended_row] == "Qwen2.5-7B").all()


def test_workers_start_with_one_xla_and_one_blas_thread(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with replay._single_threaded_children():
        flags = os.environ["XLA_FLAGS"].split()
        assert "--xla_force_host_platform_device_count=8" in flags
        assert "--xla_cpu_multi_thread_eigen=false" in flags and "intra_op_parallelism_threads=1" in flags
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8"  # restored afterwards
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_episode_store_hashes_each_task_once(tmp_path, monkeypatch):
    from admire_jax.bench import store as store_module
    from admire_jax.bench.episode import Trace
    from admire_jax.bench.table import TableSpec, load_tasks

    path, _ = _table(tmp_path, (("small", 0.01, 5), ("big", 1.0, 3)), "cost", "score")
    spec = TableSpec(
        weights_prefix="w:",
        fidelity_col="model",
        objectives=("score",),
        target_fidelity="big",
        maximize=True,
        cost_col="cost",
    )
    (task,) = load_tasks(str(path), spec)
    calls = []
    real = store_module.task_fingerprint
    monkeypatch.setattr(store_module, "task_fingerprint", lambda t: calls.append(t) or real(t))
    store = store_module.EpisodeStore(str(tmp_path / "episodes"), {"budget": 1.0})
    trace = Trace(
        cum_cost_K=np.array([0.01]),
        regret_K=np.array([0.0]),
        recommended_K=np.array([1]),
        verified_K=np.array([False]),
        runs_K=np.array([1]),
        picked_S=np.array([0]),
        stop_reason="budget",
    )
    for seed in range(3):
        store.save(task, "random", seed, None, trace)
        assert store.load(task, "random", seed, None) is not None
    assert len(calls) == 1
    (other,) = load_tasks(str(path), spec)  # an equal task read again: hashed once more, same key
    assert store.load(other, "random", 0, None) is not None and len(calls) == 2
