"""Two real processes on localhost (4 CPU devices each) train one model together via jax.distributed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

SEQ, BATCH, STEPS = 16, 8, 4


def _worker(process_id: int, port: int, run_dir: str, out_path: str) -> None:
    """One process of the job: joins the coordinator, trains on its half of every batch."""
    import gin
    import jax

    from admire_jax.train.distributed import initialize_distributed

    initialize_distributed(f"localhost:{port}", num_processes=2, process_id=process_id)
    from admire_jax.model import sharding
    from admire_jax.train.trainer import TrainConfig, train
    from tests.train.tiny_model import StepLoader, tiny_spec, validation

    gin.bind_parameter("learning_rate_schedule.learning_rate", 0.01)
    mesh = sharding.make_mesh(data=2, fsdp=4)
    cfg = TrainConfig(global_batch=BATCH, seq_len=SEQ, steps=STEPS, checkpoint_every=2, progress_bar=False)
    loader = StepLoader(BATCH, SEQ, process_index=jax.process_index(), process_count=jax.process_count())
    out = train(tiny_spec(), mesh, cfg, loader, validation(SEQ), run_dir, {"odd": 0.5, "even": 0.5})
    with open(out_path, "w") as f:
        json.dump(
            {
                "result": out,
                "devices": jax.device_count(),
                "local": jax.local_device_count(),
                "rows": [len(loader.batch(0)["inputs"])],
            },
            f,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_one_model_like_one_process(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
    }
    run_dir = str(tmp_path / "run")
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(i), str(port), run_dir, str(tmp_path / f"{i}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    reports = [json.load(open(tmp_path / f"{i}.json")) for i in range(2)]
    for r in reports:
        assert r["devices"] == 8 and r["local"] == 4 and r["rows"] == [BATCH // 2]
        assert r["result"]["status"] == "ok" and r["result"]["steps"] == STEPS
    assert reports[0]["result"]["val_loss"] == reports[1]["result"]["val_loss"]
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["2", "4"]

    # the same run in this single process on 8 local devices
    import gin

    from admire_jax.model import sharding
    from admire_jax.train.metrics_log import read_metrics
    from admire_jax.train.trainer import TrainConfig, train
    from tests.train.tiny_model import StepLoader, tiny_spec, validation

    gin.clear_config()
    gin.bind_parameter("learning_rate_schedule.learning_rate", 0.01)
    single_dir = str(tmp_path / "single")
    cfg = TrainConfig(global_batch=BATCH, seq_len=SEQ, steps=STEPS, checkpoint_every=2, progress_bar=False)
    single = train(
        tiny_spec(),
        sharding.make_mesh(data=2, fsdp=4),
        cfg,
        StepLoader(BATCH, SEQ),
        validation(SEQ),
        single_dir,
        {"odd": 0.5, "even": 0.5},
    )
    gin.clear_config()
    two = [r["loss"] for r in read_metrics(run_dir) if "loss" in r]
    one = [r["loss"] for r in read_metrics(single_dir) if "loss" in r]
    np.testing.assert_allclose(two, one, rtol=1e-5)
    for domain, value in single["val_loss"].items():
        np.testing.assert_allclose(reports[0]["result"]["val_loss"][domain], value, rtol=1e-5)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
