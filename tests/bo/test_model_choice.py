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


@pytest.mark.parametrize("target_rows", [6, 3])
def test_closed_form_leave_one_out_equals_refitting_without_each_row(target_rows):
    """Scored: the target's rows, each given every other row of every rung."""
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(D), 12)
    rung = (np.arange(12) >= 12 - target_rows).astype(int)
    X = np.concatenate([W, rung[:, None] * 1.0, rung[:, None] * 1.0], axis=1)
    y = np.sin(4 * W[:, 0]) + 0.5 * rung + 0.05 * rng.normal(size=12)
    with x64():
        params = build_model(D, 2, kind="ar1")
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        padded = TrainingData.of(jnp.asarray(np.vstack([X, np.zeros((4, D + 2))])), jnp.asarray(np.r_[y, np.zeros(4)]))
        padded = TrainingData(padded.inputs, padded.y, jnp.arange(16) < 12, padded.fantasy)
        closed = float(loo_log_density(jax.tree_util.tree_map(lambda a: a[None], params), padded))
        brute = 0.0
        for i in np.flatnonzero(rung == 1):
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
@pytest.mark.parametrize("informative", [False, True])
def test_auto_finds_out_whether_the_cheap_rung_informs_the_target(informative):
    """The default candidates: the AR1 chain with the factor prior near 1, and with a HalfNormal(1)
    prior whose mode is 0. Cheap and target responses independent: 'auto' moves to the second; the
    target a scaled copy of the cheap rung: it keeps the first."""
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.ones(D), 60)
    f_cheap = np.sin(5 * W[:, 0]) + W[:, 1]
    f_target = 0.5 * f_cheap if informative else np.cos(6 * W[:, 2]) - W[:, 0]
    opt = Optimizer(["a", "b", "c"], {"cheap": 0.1, "target": 1.0}, "target", seed=0, config=OptimizerConfig())
    for i, w in enumerate(W):
        opt.tell(w, "cheap" if i < 40 else "target", float(f_cheap[i] if i < 40 else f_target[i]))
    opt.hyperparameters()
    scores = opt.surrogate.choice.scores
    expected = "ar1" if informative else "ar1 (rho ~ HalfNormal(1))"
    assert opt.fidelity_model.label == expected, scores


def test_auto_needs_known_candidates():
    with pytest.raises(ValueError, match="model_candidates"):
        OptimizerConfig(model="auto", model_candidates=("ar2",))
    with pytest.raises(ValueError, match="only the AR1 models take a rho prior"):
        OptimizerConfig(model="auto", model_candidates=(("linear_truncated", ("HalfNormal", (1.0,))),))
    with pytest.raises(ValueError, match="repeat a model"):
        OptimizerConfig(model="auto", model_candidates=("ar1", "ar1"))
    with pytest.raises(ValueError, match="model_switch_margin"):
        OptimizerConfig(model="auto", model_switch_margin=-1.0)
