"""configs/replay/bo_fast.gin binds speed knobs only: a replay measures the engine's own model,
priors and acquisition, the ones `optimize` uses."""

import re

import gin

from admire_jax import gin_cli

SPEED_KNOBS = {
    "BOPolicyConfig.pool_size",
    "OptimizerConfig.refit_every",
    "OptimizerConfig.refit_growth",
    "OptimizerConfig.new_rung_refits",
    "OptimizerConfig.full_refit_every",
    "OptimizerConfig.full_refit_growth",
    "OptimizerConfig.warm_refit_iters",
    "MapFitConfig.num_restarts",
    "MapFitConfig.max_iters",
}


def _bound_parameters(bindings=()) -> set[str]:
    """Every `Configurable.parameter` that bo_fast.gin (plus `bindings`) binds."""
    gin_cli.parse_gin(["replay/bo_fast.gin"], list(bindings))
    return {m.group(1) for m in re.finditer(r"^(\w+\.\w+) = ", gin.config_str(), re.MULTILINE)}


def test_bo_fast_binds_only_speed_knobs():
    bound = _bound_parameters()
    assert bound, "bo_fast.gin binds nothing: the check reads nothing"
    assert bound <= SPEED_KNOBS, f"bo_fast.gin binds more than speed knobs: {sorted(bound - SPEED_KNOBS)}"


def test_the_check_sees_model_and_prior_bindings():
    bound = _bound_parameters(["OptimizerConfig.model = 'ar1'", "ModelConfig.noise_prior = (1.1, 2000.0)"])
    assert {"OptimizerConfig.model", "ModelConfig.noise_prior"} <= bound
