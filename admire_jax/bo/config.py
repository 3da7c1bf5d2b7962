"""Every knob of the BO engine in one frozen record, built once where a command reads its
configuration and passed to the `Optimizer`; the engine itself never reads gin."""

from __future__ import annotations

import dataclasses
import functools

import gin

from admire_jax.bo.models import KernelFactory, matern52, positive_prior
from admire_jax.bo.propose import AcquisitionConfig
from admire_jax.bo.refit import RefitPolicy

MODELS = ("linear_truncated", "ar1", "ar1_star")  # the fidelity models; 'auto' chooses among them
FITS = ("map", "nuts")
ACQUISITIONS = ("mf_mes", "mf_kg", "mes", "gibbon", "logei", "ucb")
MAX_VALUE_SAMPLERS = ("gumbel", "thompson")
FIDELITY_MAPS = ("log_cost", "linear_cost", "rank")
STANDARDIZE = ("within_rung", "pooled")


INPUT_TRANSFORMS = ("sqrt", "log_ratio", "identity")


def frozen_factory(factory: KernelFactory | None) -> KernelFactory | None:
    """`factory` with the gin parameters bound to it now passed explicitly (e.g.
    `additive_plus_matern52.interaction_variance`), so that the engine calling it later reads no
    gin; a factory without bindings is returned as it is."""
    if factory is None or isinstance(factory, functools.partial):
        return factory
    try:
        bound = gin.get_bindings(factory)
    except ValueError:  # not registered with gin
        return factory
    if not bound:
        return factory
    frozen = functools.partial(factory, **bound)
    frozen.__name__ = factory.__name__
    return frozen


def factory_description(factory: KernelFactory | None):
    """A kernel factory as JSON-able data: its name, with the options bound to it if any."""
    if factory is None:
        return None
    name = getattr(factory, "__name__", repr(factory))
    if isinstance(factory, functools.partial) and factory.keywords:
        return {"factory": name, "options": dict(factory.keywords)}
    return name


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The GP's input map, noise and priors beyond the fidelity model and kernel (see
    `models.build_model`, which checks the values): transform 'sqrt' | 'log_ratio' (with
    `pseudo_count`) | 'identity'; discrepancy_kernel: mixture kernel of what differs between rungs
    (None: the Optimizer's kernel); noise_prior: (concentration, rate) of a Gamma prior on the
    per-rung noise (None: Gamma(1.1, 20)); rho_prior: (numpyro family, args) of the prior on the AR1
    factors, a distribution on the positive reals; mean_prior_sd: Normal(0, sd) prior on each
    rung's mean (None: none)."""

    transform: str = "sqrt"
    pseudo_count: float = 1e-2
    discrepancy_kernel: KernelFactory | None = None
    noise_floor: float = 1e-6
    initial_noise: float = 1e-2
    noise_prior: tuple[float, float] | None = None
    rho_prior: tuple[str, tuple[float, ...]] = ("LogNormal", (0.0, 0.5))
    mean_prior_sd: float | None = 25.0

    def __post_init__(self):
        if self.transform not in INPUT_TRANSFORMS:
            raise ValueError(
                f"unknown input transform {self.transform!r}; use one of {', '.join(map(repr, INPUT_TRANSFORMS))}"
            )
        if not (self.noise_floor >= 0 and self.initial_noise > 0 and self.pseudo_count > 0):
            raise ValueError(
                f"noise_floor must be >= 0, initial_noise and pseudo_count > 0; got {self.noise_floor}, "
                f"{self.initial_noise}, {self.pseudo_count}"
            )
        prior = positive_prior("rho_prior", self.rho_prior)
        object.__setattr__(self, "rho_prior", (prior.family, prior.args))
        if self.noise_prior is not None:
            object.__setattr__(self, "noise_prior", tuple(float(v) for v in self.noise_prior))
        object.__setattr__(self, "discrepancy_kernel", frozen_factory(self.discrepancy_kernel))


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MapFitConfig:
    """MAP fit (see `fit.fit_map`): `num_restarts` starts of a full fit besides the warm start,
    at most `max_iters` L-BFGS steps each, stopping at a gradient norm <= `tol` or (ftol > 0) a
    relative loss decrease in (0, ftol]."""

    num_restarts: int = 3
    max_iters: int = 100
    tol: float = 1e-5
    ftol: float = 0.0

    def __post_init__(self):
        if self.num_restarts < 0 or self.max_iters < 1 or self.tol < 0 or self.ftol < 0:
            raise ValueError(f"map fit needs num_restarts >= 0, max_iters >= 1, tol and ftol >= 0; got {self}")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class NutsFitConfig:
    """NUTS fit (see `fit.fit_nuts`): warm-up and kept samples, thinned to `num_hyper_samples`."""

    num_warmup: int = 200
    num_samples: int = 200
    num_hyper_samples: int = 16
    max_tree_depth: int = 6

    def __post_init__(self):
        if min(self.num_warmup, self.num_samples, self.num_hyper_samples, self.max_tree_depth) < 1:
            raise ValueError(f"every NUTS setting must be >= 1; got {self}")


@dataclasses.dataclass(frozen=True)
class FidelityModel:
    """A fidelity model the surrogate can fit: its kind, and for the AR1 kinds a prior on the factors
    of its own (None: `ModelConfig.rho_prior`)."""

    kind: str
    rho_prior: tuple[str, tuple[float, ...]] | None = None

    @classmethod
    def parse(cls, spec) -> FidelityModel:
        """From a model name, a pair (AR1 model name, (numpyro family, args)), or the dict `describe`
        writes (a saved Optimizer state)."""
        if isinstance(spec, FidelityModel):
            return spec
        if isinstance(spec, dict):
            spec = spec["kind"] if spec.get("rho_prior") is None else (spec["kind"], spec["rho_prior"])
        if isinstance(spec, str):
            kind, prior = spec, None
        else:
            try:
                kind, prior = spec
            except (TypeError, ValueError):
                raise ValueError(f"a model candidate is a name or (AR1 name, (family, args)), got {spec!r}") from None
        if kind not in MODELS:
            raise ValueError(f"unknown fidelity model {kind!r} in model_candidates; use one of {MODELS}")
        if prior is None:
            return cls(kind)
        if kind not in ("ar1", "ar1_star"):
            raise ValueError(f"only the AR1 models take a rho prior, not {kind!r}")
        prior = positive_prior(f"the rho prior of candidate {kind!r}", prior)
        return cls(kind, (prior.family, prior.args))

    @property
    def label(self) -> str:
        """'ar1', or 'ar1 (rho ~ HalfNormal(1.0))' with a prior of its own."""
        if self.rho_prior is None:
            return self.kind
        family, args = self.rho_prior
        return f"{self.kind} (rho ~ {family}({', '.join(f'{a:g}' for a in args)}))"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """How the Optimizer models, fits, proposes and refits (see `configs/bo/default.gin`).

    model: fidelity model 'linear_truncated' | 'ar1' | 'ar1_star', or 'auto': the one of
    `model_candidates` (the first to start) whose leave-one-out predictive density of the target
    rows seen is highest at full refits, switching only when it beats the model in use by
    `model_switch_margin` nats (see `model_choice`). A candidate is a model name, or a pair
    (name, rho_prior) of an AR1 model with its own prior on the factors (see `ModelConfig`);
    kernel: mixture-kernel factory
    `num_dims -> Kernel`; fit: 'map' | 'nuts'; acquisition: 'mf_mes' | 'mf_kg' | 'mes' | 'gibbon' |
    'logei' | 'ucb', with `num_max_values` max-value samples drawn by `max_value_sampler`; q: proposals per
    ask; continuous proposals score `raw_samples` random mixtures per rung and refine the best
    `num_restarts` of them for `refine_steps` steps; fidelity_map: rung -> fidelity coordinate.
    initial_design_cost: before the acquisition chooses, random runs at the cheapest rung costing
    up to this many target runs (at most one more than the number of domains, at least one; see
    `Optimizer.initial_runs`); 0 (default) = a single random run.
    Refit policy (see `refit.RefitPolicy`): refit_every, refit_growth, full_refit_every,
    full_refit_growth, warm_refit_iters, new_rung_refits. blas_threads: BLAS threads while the
    Optimizer computes (None: the library default). standardize: outcome unit, the spread around
    each rung's mean ('within_rung') or around the mean of all outcomes ('pooled'). model_config,
    map_fit, nuts_fit: the GP's priors and the hyperparameter fits.
    """

    model: str = "auto"
    model_candidates: tuple = ("ar1", ("ar1", ("HalfNormal", (1.0,))))
    model_switch_margin: float = 2.0
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
    initial_design_cost: float = 0.0
    full_refit_every: int = 10
    warm_refit_iters: int = 20
    refit_every: int = 1
    refit_growth: float = 0.0
    full_refit_growth: float = 0.1
    new_rung_refits: int = 3
    blas_threads: int | None = 1
    standardize: str = "within_rung"
    model_config: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    map_fit: MapFitConfig = dataclasses.field(default_factory=MapFitConfig)
    nuts_fit: NutsFitConfig = dataclasses.field(default_factory=NutsFitConfig)

    def __post_init__(self):
        if not self.model_candidates:
            raise ValueError("model_candidates must name at least one fidelity model")
        candidates = tuple(FidelityModel.parse(c) for c in self.model_candidates)
        if len({c.label for c in candidates}) < len(candidates):
            raise ValueError(f"model_candidates repeat a model: {[c.label for c in candidates]}")
        object.__setattr__(self, "model_candidates", candidates)
        if not self.model_switch_margin >= 0:
            raise ValueError(f"model_switch_margin must be >= 0, got {self.model_switch_margin}")
        for name, known in (
            ("model", (*MODELS, "auto")),
            ("fit", FITS),
            ("acquisition", ACQUISITIONS),
            ("max_value_sampler", MAX_VALUE_SAMPLERS),
            ("fidelity_map", FIDELITY_MAPS),
            ("standardize", STANDARDIZE),
        ):
            if getattr(self, name) not in known:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; use one of {', '.join(map(repr, known))}")
        if not callable(self.kernel):
            raise ValueError(f"kernel must be a factory num_dims -> Kernel, got {self.kernel!r}")
        object.__setattr__(self, "kernel", frozen_factory(self.kernel))
        for name in ("num_max_values", "q", "num_restarts", "raw_samples", "refine_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.initial_design_cost, bool) or not self.initial_design_cost >= 0:
            raise ValueError(f"initial_design_cost must be a number >= 0, got {self.initial_design_cost!r}")
        if self.blas_threads is not None and (not isinstance(self.blas_threads, int) or self.blas_threads < 1):
            raise ValueError(f"blas_threads must be an integer >= 1 or None, got {self.blas_threads!r}")
        self.refit_policy  # checks the refit knobs

    @property
    def kernel_name(self) -> str:
        """The kernel factory's name (how a saved state names its kernel)."""
        return getattr(self.kernel, "__name__", repr(self.kernel))

    @property
    def refit_policy(self) -> RefitPolicy:
        return RefitPolicy(
            self.refit_every,
            float(self.refit_growth),
            self.full_refit_every,
            self.warm_refit_iters,
            float(self.full_refit_growth),
            self.new_rung_refits,
        )

    @property
    def acquisition_config(self) -> AcquisitionConfig:
        return AcquisitionConfig(self.acquisition, self.max_value_sampler, self.num_max_values)


def default_config(cls: type = OptimizerConfig):
    """`cls` (a config record above) with the defaults written here, whatever gin binds."""
    return cls(
        **{
            f.name: f.default if f.default is not dataclasses.MISSING else default_config(f.default_factory)
            for f in dataclasses.fields(cls)
        }
    )


def describe(record) -> dict:
    """A config record as JSON-able data: nested records as dicts, factories by their name."""
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if dataclasses.is_dataclass(value):
            value = describe(value)
        elif callable(value):
            value = factory_description(value)
        elif isinstance(value, tuple):
            value = [describe(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[f.name] = value
    return out
