"""The train state is sharded as the model's logical rules say, and sharding does not change the math."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from admire_jax.model import TransformerConfig, sharding
from admire_jax.train import optimizer, state
from admire_jax.train.metrics_log import read_metrics
from admire_jax.train.trainer import TrainConfig, train
from admire_jax.train.transformer_spec import transformer_spec
from tests.train.tiny_model import StepLoader, validation

SMALL = TransformerConfig(
    vocab_size=128, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2, d_ff=64, dtype="float32", loss_chunk_len=8
)


pytestmark = pytest.mark.usefixtures("fixed_learning_rate")


def test_params_and_adam_moments_follow_the_logical_rules():
    spec = transformer_spec(SMALL, "small")
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    tx = optimizer.adamw(optimizer.learning_rate_schedule(10))
    _, shardings = state.state_shardings(spec, mesh, tx)
    train_state = state.create_state(spec, mesh, tx, shardings)
    params = nnx.to_flat_state(train_state.params)
    checked = 0
    for path, variable in params:
        names = variable.get_metadata().get("out_sharding")
        expected = sharding.logical_to_spec(names, variable.shape, dict(mesh.shape))
        assert variable[...].sharding.spec == expected, path
        checked += bool(any(a is not None for a in expected))
    assert checked >= 5, "some parameters must actually be split"
    adam = train_state.opt_state[1][0]  # chain(clip, adamw) -> adamw's (ScaleByAdamState, ...)
    for moment in (adam.mu, adam.nu):
        for (path, p), (_, m) in zip(params, nnx.to_flat_state(moment)):
            assert m[...].sharding.spec == p[...].sharding.spec, path
    emb = train_state.params["embedding_VxD"][...]
    assert emb.sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp")
    assert emb.addressable_shards[0].data.shape == (128 // 2, 32 // 2)


def test_2x4_mesh_trains_like_one_device(tmp_path):
    spec = transformer_spec(SMALL, "small")
    cfg = TrainConfig(global_batch=8, seq_len=16, steps=3, checkpoint_every=10, progress_bar=False)
    runs = {}
    for name, mesh in {
        "one": sharding.make_mesh(devices=jax.devices()[:1]),
        "2x4": sharding.make_mesh(data=2, fsdp=4),
    }.items():
        out = train(spec, mesh, cfg, StepLoader(8, 16), validation(16), str(tmp_path / name), {"a": 1.0})
        assert out["status"] == "ok"
        runs[name] = ([r["loss"] for r in read_metrics(str(tmp_path / name)) if "loss" in r], out["val_loss"])
    np.testing.assert_allclose(runs["one"][0], runs["2x4"][0], rtol=1e-5)
    for domain in runs["one"][1]:
        np.testing.assert_allclose(runs["one"][1][domain], runs["2x4"][1][domain], rtol=1e-5)
