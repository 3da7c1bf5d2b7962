"""Choosing the fidelity model from the data: the leave-one-out density is the brute-force one, the
choice keeps the model in use unless another is clearly better, and 'auto' finds the model that can
describe a cheap rung that says nothing about the target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig
from admire_jax.bo.data import TrainingData
from admire_jax.bo.gp import condition, predict, x64
from admire_jax.bo.model_choice import ModelChoice, loo_log_density
from admire_jax.bo.models import build_model

D = 3


def test_closed_form_leave_one_out_equals_refitting_without_each_row():
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(D), 12)
    rung = np.arange(12) % 2
    X = np.concatenate([W, rung[:, None] * 1.0, rung[:, None] * 1.0], axis=1)
    y = np.sin(4 * W[:, 0]) + 0.5 * rung + 0.05 * rng.normal(size=12)
    with x64():
        params = build_model(D, 2, kind="ar1")
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        padded = TrainingData.of(jnp.asarray(np.vstack([X, np.zeros((4, D + 2))])), jnp.asarray(np.r_[y, np.zeros(4)]))
        padded = TrainingData(padded.inputs, padded.y, jnp.arange(16) < 12, padded.fantasy)
        closed = float(loo_log_density(jax.tree_util.tree_map(lambda a: a[None], params), padded))
        brute = 0.0
        for i in range(12):
            keep = np.arange(12) != i
            post = condition(params, jnp.asarray(X[keep]), jnp.asarray(y[keep]), jnp.ones(11, bool))
            mean, var = predict(post, jnp.asarray(X[i : i + 1]))
            var = float(var[0]) + float(params.noise_at(jnp.asarray(X[i : i + 1]))[0])
            brute += -0.5 * np.log(2 * np.pi * var) - 0.5 * (y[i] - float(mean[0])) ** 2 / var
    assert closed == pytest.approx(brute, rel=1e-6)


def test_the_model_in_use_changes_only_on_a_clear_margin():
    choice = ModelChoice(("ar1", "ar1_star", "linear_truncated"), margin=2.0)
    assert choice.current == "ar1"
    assert choice.update({"ar1": -10.0, "ar1_star": -8.5, "linear_truncated": -30.0}) == "ar1"
    assert choice.update({"ar1": -10.0, "ar1_star": -7.5, "linear_truncated": -30.0}) == "ar1_star"
    assert choice.update({"ar1": -7.0, "ar1_star": -7.5, "linear_truncated": -30.0}) == "ar1_star"


@pytest.mark.slow
def test_auto_leaves_the_linear_truncated_model_for_an_uninformative_cheap_rung():
    """Cheap and target rungs of equal spread and independent responses: the linear-truncated model
    (cheap = target + bias) cannot describe them; 'auto', started on it, moves to an AR1 form."""
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.ones(D), 60)
    f_cheap, f_target = np.sin(5 * W[:, 0]) + W[:, 1], np.cos(6 * W[:, 2]) - W[:, 0]
    config = OptimizerConfig(model="auto", model_candidates=("linear_truncated", "ar1", "ar1_star"))
    opt = Optimizer(["a", "b", "c"], {"cheap": 0.1, "target": 1.0}, "target", seed=0, config=config)
    for i, w in enumerate(W):
        opt.tell(w, "cheap" if i < 36 else "target", float(f_cheap[i] if i < 36 else f_target[i]))
    opt.hyperparameters()
    scores = opt.surrogate.choice.scores
    assert opt.fidelity_model in ("ar1", "ar1_star"), scores
    assert scores[opt.fidelity_model] > scores["linear_truncated"] + 2.0


def test_auto_needs_known_candidates():
    with pytest.raises(ValueError, match="model_candidates"):
        OptimizerConfig(model="auto", model_candidates=("ar2",))
    with pytest.raises(ValueError, match="model_switch_margin"):
        OptimizerConfig(model="auto", model_switch_margin=-1.0)
