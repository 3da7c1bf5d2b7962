"""Every knob of the BO engine in one frozen record, built once where a command reads its
configuration and passed to the `Optimizer`; the engine itself never reads gin."""
from __future__ import annotations

import dataclasses

import gin

from admire_jax.bo.models import KernelFactory, matern52
from admire_jax.bo.propose import AcquisitionConfig
from admire_jax.bo.refit import RefitPolicy

MODELS = ("linear_truncated", "ar1", "ar1_star")
FITS = ("map", "nuts")
ACQUISITIONS = ("mf_mes", "mes", "gibbon", "logei", "ucb")
MAX_VALUE_SAMPLERS = ("gumbel", "thompson")
FIDELITY_MAPS = ("log_cost", "linear_cost", "rank")
STANDARDIZE = ("within_rung", "pooled")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """How the Optimizer models, fits, proposes and refits (see `configs/bo/default.gin`).

    model: fidelity model 'linear_truncated' | 'ar1' | 'ar1_star'; kernel: mixture-kernel factory
    `num_dims -> Kernel`; fit: 'map' | 'nuts'; acquisition: 'mf_mes' | 'mes' | 'gibbon' | 'logei' |
    'ucb', with `num_max_values` max-value samples drawn by `max_value_sampler`; q: proposals per
    ask; continuous proposals score `raw_samples` random mixtures per rung and refine the best
    `num_restarts` of them for `refine_steps` steps; fidelity_map: rung -> fidelity coordinate.
    Refit policy (see `refit.RefitPolicy`): refit_every, refit_growth, full_refit_every,
    full_refit_growth, warm_refit_iters, new_rung_refits. blas_threads: BLAS threads while the
    Optimizer computes (None: the library default). standardize: outcome unit, the spread around
    each rung's mean ('within_rung') or around the mean of all outcomes ('pooled').
    """

    model: str = "linear_truncated"
    kernel: KernelFactory = matern52
    fit: str = "map"
    acquisition: str = "mf_mes"
    max_value_sampler: str = "gumbel"
    num_max_values: int = 8
    q: int = 1
    num_restarts: int = 4
    raw_samples: int = 512
    refine_steps: int = 40
    fidelity_map: str = "log_cost"
    full_refit_every: int = 10
    warm_refit_iters: int = 20
    refit_every: int = 1
    refit_growth: float = 0.0
    full_refit_growth: float = 0.1
    new_rung_refits: int = 3
    blas_threads: int | None = 1
    standardize: str = "within_rung"

    def __post_init__(self):
        for name, known in (("model", MODELS), ("fit", FITS), ("acquisition", ACQUISITIONS),
                            ("max_value_sampler", MAX_VALUE_SAMPLERS), ("fidelity_map", FIDELITY_MAPS),
                            ("standardize", STANDARDIZE)):
            if getattr(self, name) not in known:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; use one of {', '.join(map(repr, known))}")
        if not callable(self.kernel):
            raise ValueError(f"kernel must be a factory num_dims -> Kernel, got {self.kernel!r}")
        for name in ("num_max_values", "q", "num_restarts", "raw_samples", "refine_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.blas_threads is not None and (not isinstance(self.blas_threads, int) or self.blas_threads < 1):
            raise ValueError(f"blas_threads must be an integer >= 1 or None, got {self.blas_threads!r}")
        self.refit_policy  # checks the refit knobs

    @property
    def kernel_name(self) -> str:
        """The kernel factory's name (how a saved state names its kernel)."""
        return getattr(self.kernel, "__name__", repr(self.kernel))

    @property
    def refit_policy(self) -> RefitPolicy:
        return RefitPolicy(self.refit_every, float(self.refit_growth), self.full_refit_every, self.warm_refit_iters,
                           float(self.full_refit_growth), self.new_rung_refits)

    @property
    def acquisition_config(self) -> AcquisitionConfig:
        return AcquisitionConfig(self.acquisition, self.max_value_sampler, self.num_max_values)


def default_config() -> OptimizerConfig:
    """`OptimizerConfig` with the defaults written above, whatever gin binds."""
    return OptimizerConfig(**{f.name: f.default for f in dataclasses.fields(OptimizerConfig)})
