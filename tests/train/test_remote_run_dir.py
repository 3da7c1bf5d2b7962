"""A run folder in object storage: `admire-jax train --run_dir=gs://...` writes its result, metrics,
config and data fingerprints there through etils.epath.

The bucket is a local folder served under gs:// (tests/local_bucket.py). Checkpoints are off here:
orbax writes gs:// arrays through tensorstore's own GCS driver, which a local folder cannot stand
in for."""

import json
import os

import pytest

from admire_jax.train import cli, run_files
from admire_jax.train.metrics_log import read_metrics


def test_json_records_round_trip_in_object_storage(bucket, tmp_path):
    assert run_files.is_remote("gs://b/run") and not run_files.is_remote(tmp_path / "run")
    assert str(run_files.run_path("gs://b/run")) == "gs://b/run"
    assert str(run_files.run_path("rel")) == os.path.abspath("rel")
    run_files.write_json("gs://b/run/x.json", {"a": 1})
    assert json.loads((bucket / "b" / "run" / "x.json").read_text()) == {"a": 1}
    assert run_files.read_json("gs://b/run/x.json") == {"a": 1}
    with pytest.raises(ValueError):
        run_files.write_json("gs://b/run/y.json", {"a": float("nan")})  # strict JSON, nothing half-written
    assert not (bucket / "b" / "run" / "y.json").exists()


@pytest.mark.slow
def test_train_writes_its_run_folder_to_a_gs_path(bucket):
    argv = [
        "--preset=1m",
        "--gin.TrainConfig.steps=3",
        "--gin.TrainConfig.log_every=1",
        "--gin.GLOBAL_BATCH=8",
        "--gin.SEQ_LEN=32",
        "--gin.TransformerConfig.num_layers=1",
        "--gin.TrainConfig.checkpoint_every=0",
        "--gin.proxy_data.validation_sequences=4",
        "--gin.enable_compilation_cache.directory=None",
        "--run_dir=gs://runs/tiny",
    ]
    assert cli.main(argv) == 0
    folder = bucket / "runs" / "tiny"
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "ok" and result["steps"] == 3
    assert (folder / "config.gin").read_text().count("TrainConfig.steps = 3") == 1
    assert (folder / "data_fingerprints.json").exists()
    first = [r["step"] for r in read_metrics("gs://runs/tiny")]
    assert first[-1] == 3
    assert any(p.name.startswith("events.out.tfevents") for p in (folder / "tensorboard").iterdir())
    assert cli.main(argv) == 0  # run again into the same folder: the earlier metrics lines are kept
    assert [r["step"] for r in read_metrics("gs://runs/tiny")] == first + first
