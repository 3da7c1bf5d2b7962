"""Cost models (what a run at each rung is expected to cost) and the cost-aware rule.

A cost model maps (declared costs, measured costs so far) -> expected cost per rung label.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import gin
import jax
import jax.numpy as jnp


@gin.configurable
class FixedCost:
    """The declared cost of each rung (the `fidelities` mapping given to the Optimizer)."""

    def __call__(self, declared: Mapping[str, float], measured: Mapping[str, Sequence[float]]) -> dict[str, float]:
        return dict(declared)


@gin.configurable
class AffineCost:
    """cost = intercept + slope * parameters * tokens, with per-rung model size and token count."""

    def __init__(
        self, parameters: Mapping[str, float], tokens: Mapping[str, float], intercept: float = 0.0, slope: float = 1.0
    ):
        self.parameters, self.tokens = dict(parameters), dict(tokens)
        self.intercept, self.slope = float(intercept), float(slope)

    def __call__(self, declared: Mapping[str, float], measured: Mapping[str, Sequence[float]]) -> dict[str, float]:
        missing = sorted(set(declared) - (set(self.parameters) & set(self.tokens)))
        if missing:
            raise ValueError(f"AffineCost needs parameters and tokens for every rung; missing for {missing}")
        return {k: self.intercept + self.slope * self.parameters[k] * self.tokens[k] for k in declared}


@gin.configurable
class LearnedCost:
    """Geometric mean of the measured costs of each rung; rungs not yet measured use their
    declared cost times the mean measured/declared ratio (in log space) of the measured rungs."""

    def __call__(self, declared: Mapping[str, float], measured: Mapping[str, Sequence[float]]) -> dict[str, float]:
        logs = {k: [math.log(c) for c in v if c > 0 and math.isfinite(c)] for k, v in measured.items()}
        logs = {k: v for k, v in logs.items() if v and k in declared}
        if not logs:
            return dict(declared)
        ratio = sum(sum(v) / len(v) - math.log(declared[k]) for k, v in logs.items()) / len(logs)
        return {
            k: math.exp(sum(logs[k]) / len(logs[k])) if k in logs else declared[k] * math.exp(ratio) for k in declared
        }


def cost_weighted(utility: jax.Array, cost: jax.Array) -> jax.Array:
    """Utility per unit cost: a positive utility is divided by the cost, a negative one is
    multiplied by it, so that cheaper is always better."""
    return jnp.where(utility > 0, utility / cost, utility * cost)


def log_cost_weighted(log_utility: jax.Array, cost: jax.Array) -> jax.Array:
    """The same rule for utilities given as logs (e.g. LogEI): log(u / c)."""
    return log_utility - jnp.log(cost)
