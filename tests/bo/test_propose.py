"""The cost-aware acquisition on rows at several rungs, with the GP's hyperparameters held fixed."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admire_jax.bo.data import Candidates, TargetRung, TrainingData, model_inputs
from admire_jax.bo.gp import x64
from admire_jax.bo.models import build_model
from admire_jax.bo.propose import AcquisitionConfig, make_contexts, pool_values

D = 3


def _two_rung_model(rho: float, target_discrepancy: float):
    """AR1 chain f_target = rho f_cheap + delta: unit-variance cheap rung, delta of the given
    variance, little noise."""
    model = build_model(D, 2, kind="ar1")
    model = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), model)
    cheap, target = model.kernel.kernels
    kernels = (
        dataclasses.replace(cheap, variance=jnp.asarray(1.0)),
        dataclasses.replace(target, variance=jnp.asarray(target_discrepancy)),
    )
    kernel = dataclasses.replace(model.kernel, kernels=kernels, rho=jnp.asarray([rho]))
    return dataclasses.replace(model, kernel=kernel, noise=jnp.full(2, 1e-4), mean=jnp.zeros(2))


@pytest.mark.parametrize("rho", [1e-6, 1.0])
def test_knowledge_gradient_values_a_cheap_run_by_what_it_says_about_the_target(rho):
    """'mf_kg' values a run by how much it would raise the best posterior mean at the target. When
    the target is (almost) the cheap rung's function, an unseen cheap row at a tenth of the cost is
    worth more than a target row; when the two are independent, a cheap row moves no target mean
    and is worth nothing, while target rows keep their value."""
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(D), 16)
    seen = model_inputs(W[:4], np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1]))
    y = np.array([0.3, -0.2, 0.1, 0.4])
    unseen = np.concatenate(
        [model_inputs(W[4:], np.zeros(12), np.zeros(12)), model_inputs(W[4:], np.ones(12), np.ones(12))]
    )
    target = TargetRung(jnp.asarray(1.0), jnp.asarray(1.0))
    cfg = AcquisitionConfig("mf_kg")
    with x64():
        params_S = jax.tree_util.tree_map(lambda a: a[None], _two_rung_model(rho, 0.05 if rho == 1.0 else 1.0))
        data = TrainingData.of(jnp.asarray(seen), jnp.asarray(y))
        choices = Candidates.padded(model_inputs(W, np.zeros(16), np.zeros(16)))
        ctx = make_contexts(params_S, data, choices, target, jax.random.key(0), cfg=cfg, has_fantasies=False)
        rows = Candidates.padded(unseen)
        values = np.asarray(pool_values(ctx, rows, target, jnp.asarray([0.1, 1.0]), cfg=cfg))[:24]
    cheap, at_target = values[:12], values[12:]
    assert at_target.max() > 0
    if rho == 1.0:
        assert cheap.max() > at_target.max()
    else:
        np.testing.assert_allclose(cheap, 0.0, atol=1e-9)
