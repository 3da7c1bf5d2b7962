"""Hooks fine-tuning uses: start from a Hugging Face checkpoint, score the final model, swap the data by gin."""

from __future__ import annotations

import json

import gin
import jax
import numpy as np
import pytest
from flax import nnx

from admire_jax.model import Transformer, TransformerConfig, sharding
from admire_jax.model.hf import save_hf_checkpoint
from admire_jax.train import cli
from admire_jax.train.metrics_log import read_metrics
from admire_jax.train.trainer import TrainConfig, train
from admire_jax.train.transformer_spec import checkpoint_config, transformer_loss, transformer_spec
from tests.train.tiny_model import StepLoader, validation

TINY = TransformerConfig(
    vocab_size=128, d_model=32, num_layers=1, num_heads=2, num_kv_heads=2, d_ff=64, dtype="float32", loss_chunk_len=16
)


pytestmark = pytest.mark.usefixtures("fixed_learning_rate")


def test_training_starts_from_checkpoint_weights_and_reports_scores(tmp_path):
    pretrained = Transformer(TINY, rngs=nnx.Rngs(42))
    folder = save_hf_checkpoint(pretrained, tmp_path / "hf", "llama")
    config = checkpoint_config(str(folder), TransformerConfig(dtype="float32", loss_chunk_len=16))
    assert config == TINY
    batch0 = StepLoader(8, 16).batch(0)
    loss_sum, count = transformer_loss(pretrained, batch0)
    expected_first_loss = float(loss_sum / count)

    spec = transformer_spec(config, "tiny-ft", init_checkpoint=str(folder))
    evaluations = {"vocab": lambda model, tok: float(model.embedding_VxD.shape[0] + tok)}
    out = train(
        spec,
        sharding.make_mesh(data=2, fsdp=1, devices=jax.devices()[:2]),
        TrainConfig(global_batch=8, seq_len=16, steps=2, progress_bar=False),
        StepLoader(8, 16),
        validation(16),
        str(tmp_path / "run"),
        {"a": 1.0},
        evaluations=evaluations,
        tokenizer=0.5,
    )
    assert out["status"] == "ok", out["error"]
    first = [r["loss"] for r in read_metrics(str(tmp_path / "run")) if "loss" in r][0]
    np.testing.assert_allclose(first, expected_first_loss, rtol=1e-5)
    assert out["scores"] == {"vocab": 128.5}
    assert json.loads((tmp_path / "run" / "result.json").read_text())["scores"] == {"vocab": 128.5}


class _Tok:
    vocab_size = 128


class _Data:
    def __init__(self, seq_len, global_batch, process_index, process_count):
        self.tokenizer = _Tok()
        self.loader = StepLoader(global_batch, seq_len, process_index, process_count)
        self.validation = validation(seq_len)
        self.mixture = {"odd": 0.5, "even": 0.5}


@gin.configurable
def arithmetic_data(mixture, seq_len, global_batch, seed, process_index=0, process_count=1):
    return _Data(seq_len, global_batch, process_index, process_count)


@pytest.mark.slow
def test_cli_takes_its_data_from_the_gin_bound_factory(tmp_path):
    code = cli.main(
        [
            "--preset=1m",
            "--gin.train.data_factory=@arithmetic_data",
            "--gin.TrainConfig.steps=2",
            "--gin.GLOBAL_BATCH=8",
            "--gin.SEQ_LEN=16",
            "--gin.TransformerConfig.num_layers=1",
            "--gin.enable_compilation_cache.directory=None",
            f"--run_dir={tmp_path}",
        ]
    )
    result = json.loads((tmp_path / "result.json").read_text())
    assert code == 0, result["error"]
    assert set(result["val_loss"]) == {"odd", "even"} and result["mixture"] == {"odd": 0.5, "even": 0.5}
    assert "scores" not in result
