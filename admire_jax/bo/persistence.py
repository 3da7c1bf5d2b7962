"""The Optimizer's whole state as JSON, so that a run can stop and go on (the next proposal
after a reload is the same as without the reload)."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.bo.config import OptimizerConfig
from admire_jax.bo.gp import x64
from admire_jax.bo.models import BUILTIN_KERNELS, KernelFactory


class Persistent:
    """Mixin of the Optimizer: `state_dict` / `save` and `from_state_dict` / `load`."""

    def state_dict(self) -> dict:
        """The whole state as JSON-able data (non-finite values are stored as strings)."""
        leaves = lambda tree: None if tree is None else [np.asarray(a).tolist() for a in jax.tree_util.tree_leaves(tree)]
        fitted = None if self._fitted is None else dict(version=self._fitted[0], leaves=leaves(self._fitted[1]))
        obs = [dict(o, value=o["value"] if math.isfinite(o["value"]) else repr(o["value"])) for o in self.observations]
        return dict(version=1, domains=self.domains, fidelities=self.costs, target=self.target,
                    maximize=self.maximize, seed=self.seed, bounds=self.bounds,
                    config=dict(dataclasses.asdict(self.config), kernel=self.config.kernel_name),
                    observations=obs, pending=self.pending, num_asks=self.num_asks, num_fits=self.num_fits,
                    fit_size=self._fit_size, full_size=self._full_size, warm=leaves(self._warm),
                    fitted=fitted)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.state_dict(), f)

    @classmethod
    def from_state_dict(cls, state: Mapping, kernel: KernelFactory | None = None, cost_model: Any = None) -> "Persistent":
        config = dict(state["config"])
        config.setdefault("standardize", "pooled")  # states saved before the option existed
        kernel_name = config.pop("kernel")
        kernel = kernel or BUILTIN_KERNELS.get(kernel_name)
        if kernel is None or getattr(kernel, "__name__", repr(kernel)) != kernel_name:
            raise ValueError(f"state was saved with kernel {kernel_name!r}; pass that kernel factory to load()")
        opt = cls(state["domains"], state["fidelities"], state["target"], maximize=state["maximize"],
                  seed=state["seed"], bounds={k: tuple(v) for k, v in state["bounds"].items()},
                  cost_model=cost_model, config=OptimizerConfig(**config, kernel=kernel))
        opt.observations = [dict(o, value=float(o["value"])) for o in state["observations"]]
        opt.pending, opt.num_asks = [dict(p) for p in state["pending"]], int(state["num_asks"])
        opt.num_fits, opt._fit_size = int(state["num_fits"]), int(state.get("fit_size", 0))
        opt._full_size = int(state.get("full_size", 0))
        with x64():
            treedef = jax.tree_util.tree_structure(opt._init)
            tree = lambda leaves: jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a, jnp.float64) for a in leaves])
            if state["warm"] is not None:
                opt._warm = tree(state["warm"])
            if state.get("fitted") is not None:
                opt._fitted = (int(state["fitted"]["version"]), tree(state["fitted"]["leaves"]))
        return opt

    @classmethod
    def load(cls, path: str, kernel: KernelFactory | None = None, cost_model: Any = None) -> "Persistent":
        with open(path, encoding="utf-8") as f:
            return cls.from_state_dict(json.load(f), kernel=kernel, cost_model=cost_model)
