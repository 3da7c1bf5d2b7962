"""Fidelity as a model input: cost -> fidelity coordinate maps, and the linear-truncated
fidelity kernel (same closed form as BoTorch's LinearTruncatedFidelityKernel).

Model inputs are rows x = [w_1..w_D, s, r]: the mixture, the fidelity coordinate s in [0, 1]
(target = 1), and the rung index r (0 = cheapest, as a float).
"""

from __future__ import annotations

import math
from typing import Mapping

import jax
import jax.numpy as jnp

from admire_jax.bo.kernels import Kernel
from admire_jax.bo.params import POSITIVE, child, module, param, power_prior


def fidelity_coordinates(costs: Mapping[str, float], target: str, kind: str = "log_cost") -> dict[str, float]:
    """Maps each rung to s in [0, 1] (target 1, cheapest 0 for the cost maps).

    kind: 'log_cost' s = 1 - log(C_t / C) / log(C_t / C_min); 'linear_cost' s = C / C_t (what the
    ADMIRE scripts use); 'rank' evenly spaced by cost order.
    """
    c_t, c_min = costs[target], min(costs.values())
    order = sorted(costs, key=lambda k: costs[k])
    if kind == "log_cost":
        span = math.log(c_t / c_min)
        return {k: 1.0 if span == 0 else 1.0 - math.log(c_t / c) / span for k, c in costs.items()}
    if kind == "linear_cost":
        return {k: c / c_t for k, c in costs.items()}
    if kind == "rank":
        n = len(order) - 1
        return {k: 1.0 if n == 0 else order.index(k) / n for k in costs}
    raise ValueError(f"unknown fidelity map {kind!r}; use 'log_cost', 'linear_cost' or 'rank'")


def split(x: jax.Array, num_domains: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Model input row -> (mixture [D], fidelity coordinate s, rung index r)."""
    return x[:num_domains], x[num_domains], x[num_domains + 1]


@module
class MixtureOnly(Kernel):
    """Single-fidelity model: the mixture kernel, ignoring the fidelity columns."""

    kernel: Kernel = child()
    num_domains: int = 0

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.kernel.evaluate(x1[: self.num_domains], x2[: self.num_domains])


@module
class LinearTruncatedFidelity(Kernel):
    """k = k0(w, w') + (1 - s)(1 - s')(1 + s s')^p k1(w, w'): at the target (s = 1) only the
    unbiased part k0 remains."""

    unbiased: Kernel = child()
    biased: Kernel = child()
    power: jax.Array = param(POSITIVE, power_prior)
    num_domains: int = 0

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        w1, s1, _ = split(x1, self.num_domains)
        w2, s2, _ = split(x2, self.num_domains)
        bias = (1.0 - s1) * (1.0 - s2) * jnp.power(1.0 + s1 * s2, self.power)
        return self.unbiased.evaluate(w1, w2) + bias * self.biased.evaluate(w1, w2)
