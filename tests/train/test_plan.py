"""`train.plan`: a run's cost and evaluations before it runs, without touching the caller's gin."""

from __future__ import annotations

import gin
import pytest

from admire_jax.gin_cli import UsageError
from admire_jax.model import TransformerConfig
from admire_jax.train.plan import PlanError, plan

SHORT = ["GLOBAL_BATCH = 4", "SEQ_LEN = 32", "TRAIN_TOKENS = 384", "TransformerConfig.num_layers = 1"]


def test_plan_counts_the_trainers_flops_and_steps():
    trial = plan("1m", SHORT)
    assert (trial.seq_len, trial.global_batch, trial.steps) == (32, 4, 3)  # 384 tokens / (4 x 32)
    assert trial.evaluations == () and trial.init_checkpoint is None
    gin.parse_config_files_and_bindings(["configs/models/1m.gin"], ["TransformerConfig.num_layers = 1"])
    model = TransformerConfig()
    assert trial.non_embedding_params == model.non_embedding_params()
    assert trial.flops == model.train_flops_per_token(32) * 32 * 4 * 3
    assert plan("1m", [*SHORT, "TRAIN_TOKENS = 768"]).flops == pytest.approx(2 * trial.flops)


def test_plan_leaves_the_callers_gin_as_it_was():
    gin.bind_parameter("%CALLER_MACRO", 7)
    gin.bind_parameter("TransformerConfig.d_model", 48)
    before = gin.config_str()
    plan("1m", SHORT)
    assert gin.config_str() == before
    assert gin.query_parameter("%CALLER_MACRO") == 7
    with pytest.raises(ValueError):
        gin.query_parameter("TrainConfig.global_batch")  # the trainer's bindings stayed inside


@pytest.mark.parametrize(
    "bindings, error, message",
    [
        (["TrainConfig.stepz = 3"], UsageError, "gin configuration error"),
        ([*SHORT, "TrainConfig.steps = 0"], PlanError, "steps must be >= 1"),
    ],
)
def test_a_run_that_cannot_train_is_an_error_that_says_why(bindings, error, message):
    gin.bind_parameter("%CALLER_MACRO", 7)
    with pytest.raises(error, match=message):
        plan("1m", bindings)
    assert gin.query_parameter("%CALLER_MACRO") == 7
