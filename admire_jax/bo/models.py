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
from admire_jax.bo.kernels import RBF, Kernel, Matern12, Matern32, Matern52, Scale, Transformed
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


@gin.configurable
def build_model(num_domains: int, num_rungs: int, kind: str = "linear_truncated",
                kernel: KernelFactory = matern52, transform=None, noise_floor: float = 1e-6,
                initial_noise: float = 1e-2) -> GPParams:
    """Initial hyperparameters of the GP over rows [w, s, r].

    kind: 'linear_truncated' (fidelity kernel), 'ar1' (Kennedy-O'Hagan). With one rung either
    reduces to a single-fidelity GP on the mixture.
    """
    transform = input_transform() if transform is None else transform
    one = jnp.ones(())
    if num_rungs == 1:
        k = Scale(MixtureOnly(_mixture_kernel(kernel, num_domains, transform), num_domains=num_domains), one)
    elif kind == "linear_truncated":
        k = Scale(LinearTruncatedFidelity(_mixture_kernel(kernel, num_domains, transform),
                                          _mixture_kernel(kernel, num_domains, transform),
                                          power=one, num_domains=num_domains), one)
    elif kind == "ar1":
        parts = tuple(Scale(_mixture_kernel(kernel, num_domains, transform), one) for _ in range(num_rungs))
        k = AR1(parts, rho=jnp.ones((num_rungs - 1,)), num_domains=num_domains)
    else:
        raise ValueError(f"unknown model kind {kind!r}; use 'linear_truncated' or 'ar1'")
    return GPParams(kernel=k, noise=jnp.full((num_rungs,), initial_noise), mean=jnp.zeros((num_rungs,)),
                    num_domains=num_domains, noise_floor=noise_floor)
