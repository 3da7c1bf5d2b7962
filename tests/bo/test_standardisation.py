"""Outcome standardisation of the Optimizer: 'pooled' (over all rows) or 'within_rung' (the unit is
the spread around each rung's own mean, so offsets between rungs do not set it)."""

import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig, Pool

DOMAINS = [f"d{i}" for i in range(4)]
COSTS = {"cheap": 0.01, "target": 1.0}


def mixture_effect(W):
    return np.sin(3 * W[:, 0]) + 4 * (W[:, 1] - 0.3) ** 2 - 2 * W[:, 2] * W[:, 3]


def _target_predictions(seed, model, standardize, cheap_offset):
    """Target-rung posterior means after 30 cheap rows (mixture effect + `cheap_offset`) and 4
    target rows (0.3 x the mixture effect: a smaller spread at the target, as on real ladders)."""
    rng = np.random.default_rng(seed)
    W_cheap, W_target = rng.dirichlet(np.ones(4), 30), rng.dirichlet(np.ones(4), 20)
    opt = Optimizer(
        DOMAINS, COSTS, target="target", seed=seed, config=OptimizerConfig(model=model, standardize=standardize)
    )
    for w, y in zip(W_cheap, cheap_offset + mixture_effect(W_cheap)):
        opt.tell(w, "cheap", y)
    for w, y in zip(W_target[:4], 0.3 * mixture_effect(W_target[:4])):
        opt.tell(w, "target", y)
    mean, _ = opt.predict(W_target, "target")
    return mean, float(np.std(0.3 * mixture_effect(W_target)))


@pytest.mark.parametrize("model", ["ar1", "linear_truncated"])
@pytest.mark.parametrize("seed", [0, 1])
def test_within_rung_predictions_do_not_depend_on_the_offset_between_rungs(seed, model):
    base, target_sd = _target_predictions(seed, model, "within_rung", 0.0)
    shifted, _ = _target_predictions(seed, model, "within_rung", 3.0)
    assert np.max(np.abs(base - shifted)) < 0.02 * target_sd


def test_pooled_predictions_do_depend_on_the_offset_between_rungs():
    """The contrast that makes the test above meaningful: pooled over rungs, a cheap rung 3 units
    away makes the unit ~3x wider and the fit different (here by more than 10% of the target's sd)."""
    base, target_sd = _target_predictions(1, "linear_truncated", "pooled", 0.0)
    shifted, _ = _target_predictions(1, "linear_truncated", "pooled", 3.0)
    assert np.max(np.abs(base - shifted)) > 0.1 * target_sd


def test_with_one_rung_within_rung_is_pooled():
    """Single-fidelity runs do not change: the same proposal and the same predictions."""
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(4), 24)
    runs = []
    for standardize in ("pooled", "within_rung"):
        opt = Optimizer(
            DOMAINS, {"target": 1.0}, target="target", seed=3, config=OptimizerConfig(standardize=standardize)
        )
        for w in W[:12]:
            opt.tell(w, "target", float(mixture_effect(w[None])[0]))
        (proposal,) = opt.ask(1, pool=Pool(W[12:], ["target"] * 12))
        runs.append((proposal.index, opt.predict(W, "target")))
    (index_a, (mean_a, std_a)), (index_b, (mean_b, std_b)) = runs
    assert index_a == index_b
    np.testing.assert_array_equal(mean_a, mean_b)
    np.testing.assert_array_equal(std_a, std_b)


def test_standardize_is_checked_and_saved():
    with pytest.raises(ValueError, match="standardize"):
        OptimizerConfig(standardize="per_rung")
    opt = Optimizer(DOMAINS, COSTS, target="target", config=OptimizerConfig(standardize="pooled"))
    opt.tell(np.full(4, 0.25), "cheap", 1.0)
    assert Optimizer.from_state_dict(opt.state_dict()).config.standardize == "pooled"
