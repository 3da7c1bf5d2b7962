"""The tiny stand-in model of the trainer tests starts at the uniform loss."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from tests.train.tiny_model import RULES, VOCAB, TinyLM, sequences, tiny_loss


def test_tiny_model_starts_near_uniform_loss():
    mesh = jax.make_mesh(
        (1, 1, 1), ("data", "fsdp", "tensor"), devices=jax.devices()[:1], axis_types=(jax.sharding.AxisType.Auto,) * 3
    )
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        model = TinyLM(nnx.Rngs(0))
        loss_sum, count = tiny_loss(model, sequences(0, 4, 8, 1))
    assert count == 32
    assert abs(float(loss_sum / count) - np.log(VOCAB)) < 0.1
