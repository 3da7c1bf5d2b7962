"""The search methods a replay can compare, by name. BO methods import the BO engine lazily."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from admire_jax.bench.episode import PolicyFactory
from admire_jax.bench.mixing_law import make_mixing_law
from admire_jax.bench.policy import make_random
from admire_jax.bench.regmix import make_regmix


def _bo_factory(name: str) -> Callable[[], PolicyFactory]:
    def load() -> PolicyFactory:
        from admire_jax.bench import bo_policy

        return bo_policy.FACTORIES[name]

    return load


BO_METHODS = ("mfbo", "bo", "mfbo-nuts")  # the methods that run the BO engine (see `bo_policy.BOPolicyConfig`)
METHODS: dict[str, Callable[[], PolicyFactory]] = {
    **{name: _bo_factory(name) for name in BO_METHODS},
    "random": lambda: make_random,
    "regmix": lambda: make_regmix,
    "mixing_law": lambda: make_mixing_law,
}
DEFAULT_METHODS = ("mfbo", "bo", "random", "regmix")


def policy_factory(name: str, bo_config: Any = None) -> PolicyFactory:
    """The factory for method `name`, BO methods configured by `bo_config` (a
    `bo_policy.BOPolicyConfig`; None: its defaults); ValueError names the known methods."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    factory = METHODS[name]()
    return functools.partial(factory, config=bo_config) if name in BO_METHODS else factory
