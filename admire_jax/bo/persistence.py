"""The Optimizer's state as JSON: the problem, the config and what it was told.

Fitted hyperparameters are not saved: they are a cache of the told history, and a reloaded
Optimizer re-tells that history, exactly as the experiment layer rebuilds one from its stored
trials each round. So a reloaded Optimizer proposes what a fresh one told the same history does.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING, Any, Mapping

from admire_jax.bo.config import MapFitConfig, ModelConfig, NutsFitConfig, OptimizerConfig, describe
from admire_jax.bo.models import BUILTIN_KERNELS, KernelFactory

if TYPE_CHECKING:
    from admire_jax.bo.optimizer import Optimizer


def state_dict(opt: "Optimizer") -> dict:
    """JSON-able state of `opt` (non-finite values are stored as strings)."""
    observations = [
        dict(o, value=o["value"] if math.isfinite(o["value"]) else repr(o["value"])) for o in opt.observations
    ]
    return dict(
        domains=opt.domains,
        fidelities=opt.costs,
        target=opt.target,
        maximize=opt.maximize,
        seed=opt.seed,
        bounds=opt.bounds,
        config=describe(opt.config),
        observations=observations,
        pending=[dict(p) for p in opt.pending],
        num_asks=opt.num_asks,
    )


def config_from_dict(data: Mapping, kernel: KernelFactory | None = None) -> OptimizerConfig:
    """The OptimizerConfig `describe` wrote; kernel factories are found by name among the built-in
    ones and `kernel`."""
    known = dict(BUILTIN_KERNELS)
    if kernel is not None:
        known[getattr(kernel, "__name__", repr(kernel))] = kernel

    def factory(saved: str | dict | None) -> KernelFactory | None:
        if saved is None:
            return None
        name, options = (saved, {}) if isinstance(saved, str) else (saved["factory"], saved["options"])
        if name not in known:
            raise ValueError(f"state was saved with kernel {name!r}; pass that kernel factory to load()")
        if not options:
            return known[name]
        bound = functools.partial(known[name], **options)
        bound.__name__ = name
        return bound

    model = dict(data["model_config"])
    model["discrepancy_kernel"] = factory(model["discrepancy_kernel"])
    if model["noise_prior"] is not None:
        model["noise_prior"] = tuple(model["noise_prior"])
    nested = dict(
        model_config=ModelConfig(**model),
        map_fit=MapFitConfig(**data["map_fit"]),
        nuts_fit=NutsFitConfig(**data["nuts_fit"]),
    )
    data = {"initial_design_cost": 0.0, **data}  # saved before it existed: one random run began the search
    flat = {f.name: data[f.name] for f in dataclasses.fields(OptimizerConfig) if f.name not in nested}
    return OptimizerConfig(**dict(flat, kernel=factory(data["kernel"]), **nested))


def from_state_dict(
    cls: type, state: Mapping, kernel: KernelFactory | None = None, cost_model: Any = None
) -> "Optimizer":
    """A fresh `cls` (the Optimizer) told `state`'s observations (as recorded: already checked and
    normalised), with its pending proposals and number of asks."""
    opt = cls(
        state["domains"],
        state["fidelities"],
        state["target"],
        maximize=state["maximize"],
        seed=state["seed"],
        bounds={k: tuple(v) for k, v in state["bounds"].items()},
        cost_model=cost_model,
        config=config_from_dict(state["config"], kernel),
    )
    opt.observations = [dict(o, value=float(o["value"])) for o in state["observations"]]
    opt.pending, opt.num_asks = [dict(p) for p in state["pending"]], int(state["num_asks"])
    return opt
