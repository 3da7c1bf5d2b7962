"""Model builders: the mixture kernel (user-selectable) placed inside a fidelity model.

`kernel` arguments are factories `num_dims -> Kernel` so that ARD shapes follow the number of
domains; any gin-registered callable of that form works, including user kernels.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import gin
import jax.numpy as jnp
import numpyro.distributions as dist

from admire_jax.bo.ar1 import AR1
from admire_jax.bo.fidelity import LinearTruncatedFidelity, MixtureOnly
from admire_jax.bo.gp import GPParams
from admire_jax.bo.kernels import RBF, Additive, Kernel, Matern12, Matern32, Matern52, Scale, Sum, Transformed
from admire_jax.bo.params import Prior
from admire_jax.bo.transforms import Identity, LogRatio, SqrtSimplex

KernelFactory = Callable[[int], Kernel]


@dataclasses.dataclass(frozen=True)
class DimensionScaledLengthscalePrior:
    """LogNormal(sqrt(2) + log(D) / 2, sqrt(3)) on lengthscales (Hvarfner et al. 2024): the
    prior median grows like sqrt(D), which keeps ARD models usable with many domains."""

    num_dims: int

    def __call__(self) -> dist.Distribution:
        return dist.LogNormal(math.sqrt(2.0) + 0.5 * math.log(self.num_dims), math.sqrt(3.0))


def _stationary(cls: type, num_dims: int) -> Kernel:
    ls = jnp.full((num_dims,), 0.3 * math.sqrt(num_dims))
    return cls(lengthscale=ls, priors=(("lengthscale", DimensionScaledLengthscalePrior(num_dims)),))


@gin.configurable
def matern52(num_dims: int) -> Kernel:
    return _stationary(Matern52, num_dims)


@gin.configurable
def matern32(num_dims: int) -> Kernel:
    return _stationary(Matern32, num_dims)


@gin.configurable
def matern12(num_dims: int) -> Kernel:
    return _stationary(Matern12, num_dims)


@gin.configurable
def rbf(num_dims: int) -> Kernel:
    return _stationary(RBF, num_dims)


@gin.configurable
def additive_matern52(num_dims: int) -> Kernel:
    """Sum over domains of 1-D Matern-5/2 kernels, each with its own lengthscale and variance.

    Variances start at 1/D each (sum 1, like the ARD kernels) under an Exponential(mean 1/D)
    prior, i.e. an L1 penalty whose MAP can switch a domain off. Lengthscales act on one
    coordinate in [0, 1] (a weight or its square root), so they need no sqrt(D) growth; they start
    at 0.5 under the default Gamma(3, 6) prior (mean 0.5, little mass below 0.1 or above 1.5).
    """
    base = Matern52(lengthscale=jnp.full((num_dims,), 0.5))
    return Additive(
        base,
        variance=jnp.full((num_dims,), 1.0 / num_dims),
        priors=(("variance", Prior("Gamma", (1.0, float(num_dims)))),),
    )


@gin.configurable
def additive_plus_matern52(num_dims: int, interaction_variance: float = 0.1) -> Kernel:
    """`additive_matern52` plus a full ARD Matern-5/2 term for interactions between domains.

    The interaction term starts at `interaction_variance` under an Exponential prior of that mean,
    so it stays small unless the data show interactions: on an additive loss it predicts like the
    additive kernel, on a loss with interactions like the full ARD kernel.
    """
    if not interaction_variance > 0:
        raise ValueError(f"interaction_variance must be > 0, got {interaction_variance}")
    interaction = Scale(
        matern52(num_dims),
        jnp.asarray(float(interaction_variance)),
        priors=(("variance", Prior("Gamma", (1.0, 1.0 / interaction_variance))),),
    )
    return Sum(additive_matern52(num_dims), interaction)


BUILTIN_KERNELS: dict[str, KernelFactory] = {
    f.__name__: f for f in (matern52, matern32, matern12, rbf, additive_matern52, additive_plus_matern52)
}
"""The kernel factories shipped with the engine, by name: a saved Optimizer state names its kernel,
and one of these is found again on load without being passed."""


def input_transform(kind: str = "sqrt", pseudo_count: float = 1e-2):
    """Simplex input map: 'sqrt' (Hellinger), 'log_ratio' (with a pseudo-count) or 'identity'."""
    if kind == "sqrt":
        return SqrtSimplex()
    if kind == "log_ratio":
        return LogRatio(pseudo_count=pseudo_count)
    if kind == "identity":
        return Identity()
    raise ValueError(f"unknown input transform {kind!r}; use 'sqrt', 'log_ratio' or 'identity'")


def _mixture_kernel(factory: KernelFactory, num_domains: int, transform) -> Kernel:
    return Transformed(transform, factory(num_domains))


def build_model(
    num_domains: int,
    num_rungs: int,
    kind: str = "linear_truncated",
    kernel: KernelFactory = matern52,
    transform=None,
    noise_floor: float = 1e-6,
    initial_noise: float = 1e-2,
    rho_prior: tuple[str, tuple[float, ...]] = ("LogNormal", (0.0, 0.5)),
    mean_prior_sd: float | None = 25.0,
    noise_prior: tuple[float, float] | None = None,
    discrepancy_kernel: KernelFactory | None = None,
) -> GPParams:
    """Initial hyperparameters (and priors) of the GP over rows [w, s, r].

    kind: 'linear_truncated' (fidelity kernel), 'ar1' (Kennedy-O'Hagan chain: each rung regressed on
    the next cheaper one) or 'ar1_star' (each rung regressed on the cheapest; see `ar1`). With one
    rung each reduces to a single-fidelity GP on the mixture.
    rho_prior: (numpyro family, args) of the prior on the AR1 factors, a distribution on the positive
    reals, e.g. ("HalfNormal", (1.0,)) or ("LogNormal", (0.0, 0.5)). In within-rung standardised
    units a factor near 1 says the two rungs vary together, near 0 that the cheaper one says nothing.
    mean_prior_sd: sd of a Normal(0, sd) prior on each rung's mean in
    standardised units (None: no prior); applied to multi-rung models only. Why fitted means and
    not each rung centred on its own mean: the Optimizer centres all rungs together, and a rung
    without observations (typically the target) has no mean of its own to centre on. The target
    ranking does not depend on an unobserved rung's mean, but without a prior that mean gets no
    gradient, stays wherever a random restart put it, and makes the posterior improper for NUTS.
    The prior must be much wider than real rung offsets (which can reach several pooled sd, and
    many more within-rung sd), or it would shrink the target mean fitted from its first rows
    towards the cheap level.
    noise_prior: (concentration, rate) of a Gamma prior on the per-rung noise variances instead of
    the default Gamma(1.1, 20), e.g. (1.1, 2000) where outcomes are (nearly) noise-free and the
    target rung varies much less than the cheap rungs that set the outcome unit (replays of
    finished runs).
    transform: the simplex input map (default: `input_transform()`, square-root weights).
    discrepancy_kernel: the mixture kernel of what differs between rungs (the AR1 discrepancies of
    the rungs above the cheapest, or the linear-truncated model's bias part; default: `kernel`):
    what is shared across rungs and what differs between them need not have the same structure.
    """
    transform = input_transform() if transform is None else transform
    discrepancy_kernel = kernel if discrepancy_kernel is None else discrepancy_kernel
    one = jnp.ones(())
    if num_rungs == 1:
        k = Scale(MixtureOnly(_mixture_kernel(kernel, num_domains, transform), num_domains=num_domains), one)
    elif kind == "linear_truncated":
        k = Scale(
            LinearTruncatedFidelity(
                _mixture_kernel(kernel, num_domains, transform),
                _mixture_kernel(discrepancy_kernel, num_domains, transform),
                power=one,
                num_domains=num_domains,
            ),
            one,
        )
    elif kind in ("ar1", "ar1_star"):
        prior = positive_prior("rho_prior", rho_prior)
        parts = tuple(
            Scale(_mixture_kernel(kernel if r == 0 else discrepancy_kernel, num_domains, transform), one)
            for r in range(num_rungs)
        )
        k = AR1(
            parts,
            rho=jnp.ones((num_rungs - 1,)),
            num_domains=num_domains,
            structure="star" if kind == "ar1_star" else "chain",
            priors=(("rho", prior),),
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}; use 'linear_truncated', 'ar1' or 'ar1_star'")
    fields = dict(
        kernel=k,
        noise=jnp.full((num_rungs,), initial_noise),
        mean=jnp.zeros((num_rungs,)),
        num_domains=num_domains,
        noise_floor=noise_floor,
    )
    priors = []
    if num_rungs > 1 and mean_prior_sd is not None:
        if not mean_prior_sd > 0:
            raise ValueError(f"mean_prior_sd must be > 0 or None, got {mean_prior_sd}")
        priors.append(("mean", Prior("Normal", (0.0, float(mean_prior_sd)))))
    if noise_prior is not None:
        concentration, rate = (float(v) for v in noise_prior)
        if not (concentration > 0 and rate > 0):
            raise ValueError(f"noise_prior must be (concentration > 0, rate > 0), got {noise_prior}")
        priors.append(("noise", Prior("Gamma", (concentration, rate))))
    return GPParams(**fields, priors=tuple(priors))


def positive_prior(name: str, spec: tuple[str, tuple[float, ...]]) -> Prior:
    """`spec` = (numpyro family, args) as a Prior, checked to be a distribution on the positive reals."""
    try:
        family, args = spec
        prior = Prior(str(family), tuple(float(a) for a in args))
        support = getattr(dist, prior.family)(*prior.args, validate_args=True).support
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{name} must be (numpyro family, args), e.g. ('HalfNormal', (1.0,)); got {spec!r}: {exc}")
    if support is not dist.constraints.positive:
        raise ValueError(f"{name} must be a distribution on the positive reals; {family} has support {support}")
    return prior
