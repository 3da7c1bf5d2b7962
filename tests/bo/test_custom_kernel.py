"""A user kernel written in this file, selected through a gin string, used for a full BO step;
plus the AR1 model and NUTS fit driving the Optimizer."""

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from admire_jax.bo import NutsFitConfig, Optimizer, OptimizerConfig, Pool
from admire_jax.bo.kernels import Kernel, safe_norm
from admire_jax.bo.params import POSITIVE, module, param


@module
class RationalQuadratic(Kernel):
    """k = (1 + r^2 / (2 alpha))^(-alpha), ARD."""

    lengthscale: jax.Array = param(POSITIVE)
    alpha: jax.Array = param(POSITIVE)

    def evaluate(self, x1, x2):
        r = safe_norm((x1 - x2) / self.lengthscale)
        return (1.0 + r * r / (2.0 * self.alpha)) ** (-self.alpha)


@gin.configurable
def rational_quadratic(num_dims):
    return RationalQuadratic(lengthscale=jnp.full(num_dims, 0.5), alpha=jnp.asarray(1.0))


def _tell_some(opt, n=6):
    rng = np.random.default_rng(0)
    for i in range(n):
        w = rng.dirichlet(np.ones(3))
        fid = ["small", "big"][i % 2]
        opt.tell(w, fid, float(np.sum((w - 0.3) ** 2)))


def test_custom_kernel_selected_from_gin_runs_a_bo_step():
    gin.parse_config("""
        OptimizerConfig.kernel = @rational_quadratic
        OptimizerConfig.model = 'linear_truncated'
        OptimizerConfig.raw_samples = 64
        OptimizerConfig.num_restarts = 2
        OptimizerConfig.refine_steps = 10
    """)
    try:
        opt = Optimizer(["a", "b", "c"], {"small": 0.01, "big": 1.0}, target="big", config=OptimizerConfig())
    finally:
        gin.clear_config()
    assert opt.config.kernel_name == "rational_quadratic"
    _tell_some(opt)
    prop = opt.ask()[0]
    assert prop.mixture.sum() == pytest.approx(1.0) and prop.fidelity in ("small", "big")
    fitted = opt.hyperparameters().kernel.kernel.biased.kernel  # Scale(LinearTruncatedFidelity(Transformed(RQ)))
    assert isinstance(fitted, RationalQuadratic)
    assert float(fitted.alpha[0]) != 1.0  # its parameters were fitted
    with pytest.raises(ValueError, match="saved with kernel 'rational_quadratic'"):
        Optimizer.from_state_dict(opt.state_dict())
    assert Optimizer.from_state_dict(opt.state_dict(), kernel=rational_quadratic).ask()[0].fidelity in ("small", "big")


def test_ar1_model_with_gibbon_and_thompson_max_values_in_pool_mode():
    opt = Optimizer(
        ["a", "b", "c"],
        {"small": 0.01, "big": 1.0},
        target="big",
        config=OptimizerConfig(model="ar1", acquisition="gibbon", max_value_sampler="thompson"),
    )
    _tell_some(opt)
    W = np.random.default_rng(1).dirichlet(np.ones(3), 10)
    prop = opt.ask(pool=Pool(W, ["small", "big"] * 5))[0]
    assert 0 <= prop.index < 10 and prop.acquisition > 0
    rho = float(opt.hyperparameters().kernel.rho[0, 0])
    assert np.isfinite(rho)


@pytest.mark.slow
def test_nuts_fit_averages_the_acquisition_over_samples():
    nuts = NutsFitConfig(num_warmup=60, num_samples=20, num_hyper_samples=4, max_tree_depth=4)
    opt = Optimizer(
        ["a", "b", "c"],
        {"small": 0.01, "big": 1.0},
        target="big",
        config=OptimizerConfig(model="ar1", fit="nuts", nuts_fit=nuts),  # one model: one NUTS compile
    )
    _tell_some(opt)
    W = np.random.default_rng(1).dirichlet(np.ones(3), 10)
    prop = opt.ask(pool=Pool(W, ["small", "big"] * 5))[0]
    params = opt.hyperparameters()
    assert jax.tree_util.tree_leaves(params)[0].shape[0] == 4
    assert prop.acquisition > 0
    mean, std = opt.predict(W, "big")
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
