"""`admire-jax train` end to end on the built-in corpus, its result.json, cache reuse, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from admire_jax.train import cli
from admire_jax.train.metrics_log import read_metrics

CONTRACT_KEYS = {
    "mixture",
    "preset",
    "params",
    "tokens",
    "steps",
    "wall_seconds",
    "flops",
    "val_loss",
    "status",
    "error",
}
SMALL_DATA = ["--gin.builtin_domains.max_bytes=200000", "--gin.builtin_targets.max_bytes=200000"]
SHORT_RUN = [
    "--preset=1m",
    "--gin.TrainConfig.steps=3",
    "--gin.GLOBAL_BATCH=4",
    "--gin.SEQ_LEN=32",
    "--gin.TransformerConfig.num_layers=1",
    "--gin.TrainConfig.checkpoint_every=2",
    "--gin.proxy_data.validation_sequences=4",
    "--gin.enable_compilation_cache.directory=None",
    *SMALL_DATA,
]


@pytest.fixture
def data_dir(tmp_path_factory, monkeypatch):
    path = str(tmp_path_factory.mktemp("corpus"))
    monkeypatch.setenv("ADMIRE_JAX_DATA_DIR", path)
    return path


def run_cli(args: list[str], data_dir: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADMIRE_JAX_DATA_DIR": data_dir, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    return subprocess.run(
        [sys.executable, "-m", "admire_jax.cli", "train", *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_train_writes_contract_result_and_reuses_compilation_cache(tmp_path, data_dir):
    mixture = tmp_path / "recommendation.json"
    mixture.write_text(json.dumps({"mixture": {"python_code": 3.0, "markdown": 1.0}}))
    cache = str(tmp_path / "xla_cache")
    common = [
        *SHORT_RUN,
        f"--mixture={mixture}",
        f"--gin.enable_compilation_cache.directory='{cache}'",
        "--gin.TrainConfig.log_every=1",
        "--gin.TrainConfig.eval_every=1",
    ]

    first = run_cli([*common, f"--run_dir={tmp_path / 'a'}"], data_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "never read" not in first.stderr  # every binding above is read by the run
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert CONTRACT_KEYS <= set(result)
    assert result["status"] == "ok" and result["error"] is None and result["preset"] == "1m"
    assert result["mixture"]["python_code"] == pytest.approx(0.75)
    assert result["mixture"]["markdown"] == pytest.approx(0.25) and result["mixture"]["c_code"] == 0.0
    assert result["steps"] == 3 and result["tokens"] == 3 * 4 * 32
    assert result["flops"] > 6 * result["params"] * result["tokens"]
    assert set(result["val_loss"]) == {
        "python_code",
        "python_tests",
        "c_code",
        "docstrings",
        "markdown",
        "licenses",
        "python_reference",
        "numpy_stubs",
    }
    # training worked: the loss fell from the untrained model's, on the training batches and on every domain
    metrics = read_metrics(str(tmp_path / "a"))
    train_loss = [m["loss"] for m in metrics if "loss" in m]
    assert len(train_loss) == 3 and train_loss[-1] < train_loss[0] - 1.0
    after_one_step = next(m for m in metrics if m["step"] == 1 and "val_loss/numpy_stubs" in m)
    assert all(v < after_one_step[f"val_loss/{d}"] - 0.2 for d, v in result["val_loss"].items())
    assert sorted(os.listdir(tmp_path / "a" / "checkpoints")) == ["2", "3"]
    assert os.listdir(cache), "compiled programs must be written to the persistent cache"
    assert result["compile_cache_hits"] == 0

    second = run_cli([*common, f"--run_dir={tmp_path / 'b'}"], data_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads((tmp_path / "b" / "result.json").read_text())
    assert again["compile_cache_hits"] >= 2, "train and eval steps must come from the cache"
    assert again["val_loss"] == result["val_loss"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--preset=13m"], "unknown preset '13m'"),
        (["--preset=1m", "--gin.TrainConfig.stepz=3"], "gin configuration error"),
        (["--preset=1m", "--gin.NoSuchThing.x=3"], "gin configuration error"),
        (["--gin_file=configs/models/nope.gin"], "gin file not found"),
        (["--preset=1m", "--mesh=data=2,fsdp=-1,tensor=-1"], "at most one -1"),
        (["--preset=1m", "--mixture=/no/such/file.json"], "cannot read --mixture"),
        (["--preset=1m", "--gin.TrainConfig.steps", "3"], "gin bindings are written --gin.NAME=VALUE (one argument)"),
    ],
)
def test_bad_input_is_exit_2_without_traceback(capsys, argv, expected):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_unknown_mixture_domain_is_exit_2_and_a_failed_result(tmp_path, data_dir, capsys):
    mixture = tmp_path / "m.json"
    mixture.write_text(json.dumps({"klingon": 1.0}))
    code = cli.main([*SHORT_RUN, f"--mixture={mixture}", f"--run_dir={tmp_path / 'run'}"])
    assert code == 2
    assert "unknown domains ['klingon']" in capsys.readouterr().err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert CONTRACT_KEYS <= set(result)
    assert result["status"] == "failed" and "klingon" in result["error"]
    import gin

    assert gin.config_str() == "", "the command must not leave gin bindings behind"
