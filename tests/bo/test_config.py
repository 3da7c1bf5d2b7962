"""OptimizerConfig: checked on construction, built from gin only where asked, saved and reloaded
whole (kernel factories with the gin parameters bound to them)."""

import gin
import pytest

from admire_jax.bo import MapFitConfig, ModelConfig, Optimizer, OptimizerConfig
from admire_jax.bo.config import default_config, describe
from admire_jax.bo.data import pad
from admire_jax.bo.models import additive_plus_matern52, matern32
from admire_jax.bo.persistence import config_from_dict


@pytest.mark.parametrize(
    "knobs, message",
    [
        (lambda: dict(model="gp"), "unknown model 'gp'"),
        (lambda: dict(acquisition="ei"), "unknown acquisition 'ei'"),
        (lambda: dict(q=0), "q must be an integer >= 1"),
        (lambda: dict(raw_samples=2.5), "raw_samples must be an integer"),
        (lambda: dict(blas_threads=0), "blas_threads"),
        (lambda: dict(refit_growth=-1.0), "refit_growth"),
        (lambda: dict(kernel="matern52"), "kernel must be a factory"),
        (lambda: dict(model_config=ModelConfig(transform="log")), "unknown input transform 'log'"),
        (lambda: dict(map_fit=MapFitConfig(max_iters=0)), "max_iters >= 1"),
    ],
)
def test_bad_knobs_are_named(knobs, message):
    with pytest.raises(ValueError, match=message):
        OptimizerConfig(**knobs())


def test_gin_is_read_where_the_config_is_built_and_never_by_the_engine():
    gin.parse_config(
        "OptimizerConfig.acquisition = 'gibbon'\nModelConfig.noise_floor = 0.01\nMapFitConfig.num_restarts = 1"
    )
    built = OptimizerConfig()
    assert built.acquisition == "gibbon" and built.model_config.noise_floor == 0.01 and built.map_fit.num_restarts == 1
    assert default_config() == OptimizerConfig(
        acquisition="mf_mes", model_config=default_config(ModelConfig), map_fit=default_config(MapFitConfig)
    )
    assert Optimizer(["a", "b"], {"run": 1.0}, "run").config == default_config()  # None: the defaults


def test_a_kernel_factory_keeps_its_gin_parameters_and_survives_a_reload():
    gin.parse_config("additive_plus_matern52.interaction_variance = 0.3")
    config = OptimizerConfig(kernel=additive_plus_matern52, model_config=ModelConfig(discrepancy_kernel=matern32))
    gin.clear_config()
    assert config.kernel.keywords == {"interaction_variance": 0.3} and config.kernel_name == "additive_plus_matern52"
    again = config_from_dict(describe(config))
    assert describe(again) == describe(config)
    assert again.kernel.keywords == {"interaction_variance": 0.3} and again.model_config.discrepancy_kernel is matern32


def test_pad_appends_zero_rows_up_to_the_bucket():
    padded = pad([[1.0, 2.0], [3.0, 4.0]])
    assert padded.shape == (32, 2) and padded[:2].tolist() == [[1.0, 2.0], [3.0, 4.0]] and not padded[2:].any()
    assert pad([True], 4).tolist() == [True, False, False, False]
