"""The training loop on a tiny model: exact resume, divergence, failure, accumulation, checkpoints."""

from __future__ import annotations

import json
import os

import gin
import jax
import numpy as np
import pytest

from admire_jax.train import checkpoint, optimizer, state
from admire_jax.train.metrics_log import read_metrics
from admire_jax.train.trainer import TrainConfig, train
from tests.train.tiny_model import StepLoader, tiny_spec, validation

SEQ, BATCH = 16, 8
MIXTURE = {"odd": 0.5, "even": 0.5}


pytestmark = pytest.mark.usefixtures("fixed_learning_rate")


def mesh_of(data: int, fsdp: int):
    return jax.make_mesh(
        (data, fsdp, 1),
        ("data", "fsdp", "tensor"),
        devices=jax.devices()[: data * fsdp],
        axis_types=(jax.sharding.AxisType.Auto,) * 3,
    )


def config(**overrides) -> TrainConfig:
    kw = dict(global_batch=BATCH, seq_len=SEQ, steps=20, checkpoint_every=5, progress_bar=False)
    return TrainConfig(**{**kw, **overrides})


def losses(run_dir: str) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if "loss" in r}


def read_result(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "result.json")) as f:
        return json.load(f)


class CrashingLoader(StepLoader):
    """Fails when asked for the batch of `crash_at` (0-based step), like a killed job."""

    def __init__(self, crash_at: int):
        super().__init__(BATCH, SEQ)
        self.crash_at = crash_at

    def batch(self, step):
        if step == self.crash_at:
            raise RuntimeError(f"simulated crash before step {step + 1}")
        return super().batch(step)


def test_resume_after_crash_is_exact(tmp_path):
    mesh = mesh_of(2, 4)
    straight = str(tmp_path / "straight")
    done = train(tiny_spec(), mesh, config(), StepLoader(BATCH, SEQ), validation(SEQ), straight, MIXTURE)
    assert done["status"] == "ok" and done["steps"] == 20

    resumed = str(tmp_path / "resumed")
    crashed = train(tiny_spec(), mesh, config(), CrashingLoader(10), validation(SEQ), resumed, MIXTURE)
    assert crashed["status"] == "failed"
    assert "simulated crash before step 11" in crashed["error"]
    assert read_result(resumed)["status"] == "failed"
    assert crashed["steps"] == 10

    loader = StepLoader(BATCH, SEQ)
    finished = train(tiny_spec(), mesh, config(), loader, validation(SEQ), resumed, MIXTURE)
    assert loader.calls[0] == 10, "restart must continue from the checkpoint at step 10"
    assert finished["status"] == "ok" and finished["steps"] == 20
    assert finished["wall_seconds"] > crashed["wall_seconds"], "cost adds up over invocations"
    a, b = losses(straight), losses(resumed)
    assert sorted(b) == list(range(1, 21))
    assert [a[s] for s in range(11, 21)] == [b[s] for s in range(11, 21)]
    assert finished["val_loss"] == done["val_loss"]
    assert a[20] < a[1] - 0.3, "the tiny model should learn"
    assert read_result(resumed) == {**finished, "wall_seconds": read_result(resumed)["wall_seconds"]}


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    gin.bind_parameter("learning_rate_schedule.learning_rate", 1e9)
    gin.bind_parameter("learning_rate_schedule.warmup_steps", 1)
    run_dir = str(tmp_path / "run")
    mesh = mesh_of(1, 2)
    out = train(
        tiny_spec(), mesh, config(checkpoint_every=1), StepLoader(BATCH, SEQ), validation(SEQ), run_dir, MIXTURE
    )
    assert out["status"] == "diverged"
    k = int(out["error"].split("diverged at step ")[1].split(":")[0])
    assert 1 < k <= 20 and out["steps"] == k - 1
    assert read_result(run_dir)["status"] == "diverged"
    assert all(v is None for v in out["val_loss"].values())
    ckpt = checkpoint.Checkpointer(os.path.join(run_dir, "checkpoints"), every=1)
    assert ckpt.latest_step() == k - 1
    tx = optimizer.adamw(optimizer.learning_rate_schedule(20))
    abstract, _ = state.state_shardings(tiny_spec(), mesh, tx)
    restored = ckpt.restore(abstract)
    ckpt.close()
    assert int(restored.step) == k - 1
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored.params))


def test_accumulation_matches_full_batch_and_keeps_last_n(tmp_path):
    mesh = mesh_of(2, 2)
    full, accum = str(tmp_path / "full"), str(tmp_path / "accum")
    out = train(
        tiny_spec(),
        mesh,
        config(steps=6, checkpoint_every=2, keep_checkpoints=2),
        StepLoader(BATCH, SEQ),
        validation(SEQ),
        full,
        MIXTURE,
    )
    assert out["flops"] == 6 * tiny_spec().flops_per_step(SEQ, BATCH)
    assert out["tokens"] == 6 * BATCH * SEQ
    step_records = [r for r in read_metrics(full) if "loss" in r]
    assert all(r["tokens_per_second"] > 0 and r["tokens"] == BATCH * SEQ for r in step_records)
    assert all(0 < r["learning_rate"] <= 0.01 and r["grad_norm"] > 0 for r in step_records)
    train(tiny_spec(), mesh, config(steps=6, accum_steps=2), StepLoader(BATCH, SEQ), validation(SEQ), accum, MIXTURE)
    a, b = losses(full), losses(accum)
    np.testing.assert_allclose([a[s] for s in range(1, 7)], [b[s] for s in range(1, 7)], rtol=2e-5)
    assert sorted(os.listdir(os.path.join(full, "checkpoints"))) == ["4", "6"]
    events = os.listdir(os.path.join(full, "tensorboard"))
    assert any(name.startswith("events.out.tfevents") for name in events)


class InterruptedLoader(StepLoader):
    def batch(self, step):
        if step == 3:
            raise KeyboardInterrupt
        return super().batch(step)


def test_interrupt_still_writes_result_and_propagates(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(
            tiny_spec(),
            mesh_of(1, 1),
            config(checkpoint_every=2),
            InterruptedLoader(BATCH, SEQ),
            validation(SEQ),
            str(tmp_path),
            MIXTURE,
        )
    out = read_result(str(tmp_path))
    assert out["status"] == "failed" and out["error"] == "interrupted (KeyboardInterrupt) after step 3"
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="not divisible by accum_steps"):
        config(accum_steps=3)
    with pytest.raises(ValueError, match="train_tokens or TrainConfig.steps"):
        _ = config(steps=None).total_steps
    with pytest.raises(ValueError, match="eval_batch must be >= 1"):
        config(eval_batch=0)


def test_batch_that_cannot_be_split_over_the_mesh_fails_with_a_result(tmp_path):
    out = train(
        tiny_spec(),
        mesh_of(2, 4),
        config(accum_steps=2),
        StepLoader(BATCH, SEQ),
        validation(SEQ),
        str(tmp_path),
        MIXTURE,
    )
    assert out["status"] == "failed" and out["steps"] == 0
    assert "must split into 2 micro-batches over 8 batch shards" in out["error"]
    assert read_result(str(tmp_path))["status"] == "failed"
