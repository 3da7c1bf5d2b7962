"""`admire-jax train` under SIGTERM: a checkpoint at the next step, status preempted, exit 75, and a
bit-exact resume; in a two-process run the signal to one process stops both at the same step."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from admire_jax.train import PREEMPTED_EXIT_CODE
from admire_jax.train.metrics_log import read_metrics

ROOT = Path(__file__).resolve().parents[2]
STEPS = 150
TINY_1M = [
    "--preset=1m",
    f"--gin.TrainConfig.steps={STEPS}",
    "--gin.GLOBAL_BATCH=4",
    "--gin.SEQ_LEN=32",
    "--gin.TransformerConfig.num_layers=1",
    "--gin.TrainConfig.checkpoint_every=1000",  # larger than the run: only preemption saves mid-run
    "--gin.TrainConfig.log_every=1",
    "--gin.TrainConfig.progress_bar=False",
    "--gin.proxy_data.validation_sequences=4",
    "--gin.enable_compilation_cache.directory=None",
    "--gin.builtin_domains.max_bytes=200000",
    "--gin.builtin_targets.max_bytes=200000",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The trainer's environment; the built-in corpus is built once for the module's runs."""
    return {
        **os.environ,
        "ADMIRE_JAX_DATA_DIR": str(tmp_path_factory.mktemp("corpus")),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _train(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "admire_jax.cli", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_step(run_dir: Path, step: int, procs: list[subprocess.Popen]) -> None:
    """Until metrics.jsonl has logged `step` (the run is then training, past compilation)."""
    deadline = time.time() + 600
    while time.time() < deadline:
        assert all(p.poll() is None for p in procs), "a trainer ended before it was signalled"
        if (run_dir / "metrics.jsonl").exists() and any(r["step"] >= step for r in read_metrics(str(run_dir))):
            return
        time.sleep(0.02)
    raise AssertionError(f"step {step} was not logged in time")


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(str(run_dir)) if "loss" in r]


@pytest.mark.slow
def test_sigterm_at_a_random_step_checkpoints_the_next_step_and_resumes_bit_exactly(tmp_path, env):
    signal_at = random.randint(1, 20)
    run_dir = tmp_path / "run"
    job = _train([*TINY_1M, f"--run_dir={run_dir}"], env)
    _wait_for_step(run_dir, signal_at, [job])
    job.send_signal(signal.SIGTERM)
    log = job.communicate(timeout=300)[0]
    assert job.returncode == PREEMPTED_EXIT_CODE, f"signalled after step {signal_at}:\n{log[-3000:]}"
    result = json.loads((run_dir / "result.json").read_text())
    step = result["step"]
    assert result["status"] == "preempted" and result["resumable"] is True, result
    assert signal_at < step < STEPS and result["steps"] == step
    assert os.listdir(run_dir / "checkpoints") == [str(step)]
    assert [s for s, _ in _losses(run_dir)] == list(range(1, step + 1))

    resumed = _train([*TINY_1M, f"--run_dir={run_dir}"], env)
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-3000:]
    straight = _train([*TINY_1M, f"--run_dir={tmp_path / 'straight'}"], env)
    log = straight.communicate(timeout=600)[0]
    assert straight.returncode == 0, log[-3000:]
    assert _losses(run_dir) == _losses(tmp_path / "straight"), f"preempted after step {step}"
    final = json.loads((run_dir / "result.json").read_text())
    assert final["status"] == "ok" and final["steps"] == STEPS and "resumable" not in final


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_signalled_on_one_both_save_the_same_step_and_exit_75(tmp_path, env):
    env = {**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    run_dir = tmp_path / "run"
    port = _free_port()
    procs = [
        _train(
            [
                *TINY_1M,
                f"--run_dir={run_dir}",
                f"--coordinator_address=localhost:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ],
            env,
        )
        for i in range(2)
    ]
    try:
        _wait_for_step(run_dir, 3, procs)
        procs[1].send_signal(signal.SIGTERM)  # only the process that does not write result.json
        logs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == PREEMPTED_EXIT_CODE, log[-3000:]
    printed = [json.loads(log.strip().splitlines()[-1]) for log in logs]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "preempted" and result["resumable"] is True
    assert [r["status"] for r in printed] == ["preempted"] * 2
    assert [r["steps"] for r in printed] == [result["step"]] * 2, "both processes stopped after the same step"
    # the signal arrives once process 0 has logged step 3; process 1 may not have passed that step's
    # boundary yet, so both stop at step 3 or later, never before
    assert 3 <= result["step"] < STEPS
    assert os.listdir(run_dir / "checkpoints") == [str(result["step"])]
