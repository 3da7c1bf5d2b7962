"""Kernel and model parameters: constrained values in a pytree, with unconstrained views.

A parameter is a dataclass field declared with `param(constraint, prior)`. Optimisers and
samplers work on the unconstrained ("raw") tree; kernels always see constrained values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpyro.distributions as dist


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A bijection from the real line onto a parameter's support."""

    name: str
    lower: float = 0.0

    def forward(self, raw: jax.Array) -> jax.Array:
        if self.name == "positive":
            return self.lower + jax.nn.softplus(raw)
        if self.name == "unit":
            return jax.nn.sigmoid(raw)
        return raw

    def inverse(self, value: jax.Array) -> jax.Array:
        if self.name == "positive":
            v = jnp.maximum(value - self.lower, 1e-12)
            return v + jnp.log(-jnp.expm1(-v))
        if self.name == "unit":
            v = jnp.clip(value, 1e-9, 1 - 1e-9)
            return jnp.log(v) - jnp.log1p(-v)
        return value

    def log_abs_det_jacobian(self, raw: jax.Array) -> jax.Array:
        if self.name == "positive":
            return jnp.sum(jax.nn.log_sigmoid(raw))
        if self.name == "unit":
            return jnp.sum(jax.nn.log_sigmoid(raw) + jax.nn.log_sigmoid(-raw))
        return jnp.zeros(())


POSITIVE = Constraint("positive")
UNIT = Constraint("unit")
REAL = Constraint("real")


def positive_with_floor(floor: float) -> Constraint:
    """Positive values bounded below by `floor` (e.g. a noise floor)."""
    return Constraint("positive", lower=float(floor))


PriorFactory = Callable[[], dist.Distribution]


def param(constraint: Constraint = POSITIVE, prior: PriorFactory | None = None) -> Any:
    """Declares a dataclass field as a fitted parameter (a pytree leaf)."""
    return dataclasses.field(metadata={"constraint": constraint, "prior": prior})


def module(cls: type) -> type:
    """Makes `cls` a frozen dataclass pytree: parameter and sub-module fields are leaves/children,
    every other field is static metadata."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    data, meta = [], []
    for f in dataclasses.fields(cls):
        (data if "constraint" in f.metadata or f.metadata.get("child") else meta).append(f.name)
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def child() -> Any:
    """Declares a dataclass field holding a sub-module (e.g. the kernels of a sum)."""
    return dataclasses.field(metadata={"child": True})


def _map_params(tree: Any, fn: Callable[[jax.Array, Constraint, PriorFactory | None], Any]) -> Any:
    """Applies fn(value, constraint, prior) to every parameter; returns a same-shaped tree."""
    if isinstance(tree, (list, tuple)):
        return type(tree)(_map_params(t, fn) for t in tree)
    if isinstance(tree, dict):
        return {k: _map_params(v, fn) for k, v in tree.items()}
    if not dataclasses.is_dataclass(tree):
        return tree
    changes = {}
    for f in dataclasses.fields(tree):
        value = getattr(tree, f.name)
        if "constraint" in f.metadata:
            changes[f.name] = fn(value, f.metadata["constraint"], _prior_of(tree, f))
        elif f.metadata.get("child"):
            changes[f.name] = _map_params(value, fn)
    return dataclasses.replace(tree, **changes)


def _prior_of(obj: Any, f: dataclasses.Field) -> PriorFactory | None:
    overrides = dict(getattr(obj, "priors", ()) or ())
    return overrides.get(f.name, f.metadata["prior"])


def _fold(tree: Any, fn: Callable[[jax.Array, Constraint, PriorFactory | None], jax.Array]) -> jax.Array:
    """Sum of fn(value, constraint, prior) over every parameter."""
    terms: list[jax.Array] = []

    def collect(value, constraint, prior):
        terms.append(fn(value, constraint, prior))
        return value

    _map_params(tree, collect)
    return sum(terms, jnp.zeros(()))


def unconstrain(tree: Any) -> Any:
    """Constrained parameter tree -> raw (unconstrained) tree of the same structure."""
    return _map_params(tree, lambda v, c, p: c.inverse(v))


def constrain(raw: Any) -> Any:
    """Raw tree -> constrained tree (inverse of `unconstrain`)."""
    return _map_params(raw, lambda v, c, p: c.forward(v))


def log_abs_det_jacobian(raw: Any) -> jax.Array:
    """log |d constrain(raw) / d raw|, for densities over raw parameters (NUTS)."""
    return _fold(raw, lambda v, c, p: c.log_abs_det_jacobian(v))


def log_prior(tree: Any) -> jax.Array:
    """Sum of the priors' log densities over a constrained tree (parameters without prior add 0)."""
    return _fold(tree, lambda v, c, p: jnp.sum(p().log_prob(v)) if p is not None else jnp.zeros(()))


# Default priors (for standardised outcomes and unit-scale inputs).
def lengthscale_prior() -> dist.Distribution:
    return dist.Gamma(3.0, 6.0)


def scale_prior() -> dist.Distribution:
    return dist.Gamma(2.0, 1.0)


def noise_prior() -> dist.Distribution:
    return dist.Gamma(1.1, 20.0)


def power_prior() -> dist.Distribution:
    return dist.Gamma(3.0, 3.0)


def rho_prior() -> dist.Distribution:
    """AR1 rung-to-rung factor: median 1 (the next rung repeats this one), rarely below 0.2 or above 5."""
    return dist.LogNormal(0.0, 0.5)


@dataclasses.dataclass(frozen=True)
class Prior:
    """A configurable prior factory: the numpyro distribution `family` with positional `args`,
    e.g. Prior("Gamma", (1.1, 2000.0)) (hashable, so jit can key on it)."""

    family: str
    args: tuple[float, ...]

    def __call__(self) -> dist.Distribution:
        return getattr(dist, self.family)(*self.args)
