"""The ask/tell Optimizer: multi-fidelity, cost-aware Bayesian optimisation of mixtures.

A thin layer over the surrogate (`surrogate`), acquisition maximisation (`maximize`) and
recommendation (`recommend`). Its state is what it was told (observations, pending proposals, the
number of asks); everything fitted is derived from that, so a saved state reloads by re-telling.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from admire_jax.bo import checks, persistence
from admire_jax.bo.config import FidelityModel, OptimizerConfig, default_config
from admire_jax.bo.cost import FixedCost
from admire_jax.bo.data import TargetRung, TrainingData
from admire_jax.bo.fidelity import fidelity_coordinates
from admire_jax.bo.gp import GPParams
from admire_jax.bo.maximize import best_in_pool, contexts, maximise, random_mixtures
from admire_jax.bo.models import KernelFactory
from admire_jax.bo.propose import Context, project_to_bounds
from admire_jax.bo.recommend import recommend
from admire_jax.bo.records import Pool, Proposal, Recommendation
from admire_jax.bo.rung_correlation import rung_correlations
from admire_jax.bo.surrogate import Surrogate


class Optimizer:
    """Ask/tell BO over mixtures (simplex of `domains`, within `bounds`) x rungs (`fidelities`:
    label -> cost; `target` is the most expensive). `config` holds every engine knob (None:
    the defaults written in `OptimizerConfig`; gin is not read); `cost_model` maps declared and measured
    costs to the expected cost of each rung (None: the declared costs). Randomness comes from
    `seed` and the number of asks and observations only."""

    def __init__(
        self,
        domains: Sequence[str],
        fidelities: Mapping[str, float],
        target: str,
        *,
        maximize: bool = False,
        seed: int = 0,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        cost_model: Any = None,
        config: OptimizerConfig | None = None,
    ):
        self.domains = [str(d) for d in domains]
        if len(set(self.domains)) != len(self.domains) or not self.domains:
            raise ValueError(f"domains must be distinct and non-empty, got {self.domains}")
        self.config = default_config() if config is None else config
        if not isinstance(self.config, OptimizerConfig):
            raise ValueError(f"config must be an OptimizerConfig, got {type(self.config).__name__}")
        self.costs = checks.fidelity_costs(fidelities, target)
        self.target, self.maximize, self.seed = target, bool(maximize), int(seed)
        self.bounds = {k: (float(a), float(b)) for k, (a, b) in (bounds or {}).items()}
        self.lo, self.hi = checks.bounds_arrays(self.bounds, self.domains)
        self.rungs = sorted(self.costs, key=lambda k: (self.costs[k], k != target))
        self.cost_model = cost_model or FixedCost()
        coords = fidelity_coordinates(self.costs, target, kind=self.config.fidelity_map)
        self.surrogate = Surrogate(len(self.domains), self.rungs, coords, self.config)
        self.target_rung = TargetRung(coords[target], float(self.rungs.index(target)))
        self.observations: list[dict] = []
        self.pending: list[dict] = []
        self.num_asks = 0

    @property
    def num_fits(self) -> int:
        """Hyperparameter fits so far in this process (a cache statistic, not state)."""
        return self.surrogate.num_fits

    # ------------------------------------------------------------------ tell
    def tell(self, mixture: np.ndarray, fidelity: str, value: float, cost: float | None = None) -> None:
        """Record a finished run; NaN/inf values are kept as failed runs and never modelled."""
        w = checks.mixture_rows(mixture, len(self.domains))[0]
        checks.fidelity_label(fidelity, self.rungs)
        value = float(value)
        self.observations.append(
            dict(
                mixture=w.tolist(),
                fidelity=fidelity,
                value=value,
                cost=None if cost is None else float(cost),
                failed=not math.isfinite(value),
            )
        )
        for i, p in enumerate(self.pending):
            if p["fidelity"] == fidelity and np.allclose(p["mixture"], w, atol=1e-6):
                del self.pending[i]
                break

    def clear_pending(self) -> None:
        self.pending = []

    def successes(self) -> list[dict]:
        """The observations with a finite value, oldest first."""
        return [o for o in self.observations if not o["failed"]]

    # ------------------------------------------------------------------ the GP
    def key(self, *path: int) -> jax.Array:
        """The random key of one use: the seed folded with `path`."""
        key = jax.random.key(self.seed)
        for p in path:
            key = jax.random.fold_in(key, p)
        return key

    def hyperparameters(self) -> GPParams:
        """The GP's hyperparameters for the current data (leading sample axis), refitted per the policy."""
        with self.surrogate.numerics():
            version = len(self.observations)
            return self.surrogate.params(self.successes(), version, self.key(0, version), self.maximize)

    def training_data(self, pending: Sequence[dict] = ()) -> TrainingData:
        """The padded record the GP is conditioned on: successes, then `pending` as fantasies."""
        successes = self.successes()
        return self.surrogate.training_data(
            successes, self.surrogate.outcome_transform(successes, self.maximize), pending
        )

    def contexts(self, key: jax.Array, candidate_mixtures: np.ndarray, pending: Sequence[dict] = ()) -> Context:
        """The conditioned GP of every hyperparameter sample, with its max-value samples."""
        params = self.hyperparameters()
        return contexts(
            params,
            self.training_data(pending),
            candidate_mixtures,
            self.target_rung,
            key,
            self.config.acquisition_config,
        )

    def rung_costs(self) -> np.ndarray:
        """Expected cost of a run at each rung (in the order of `rungs`), from the cost model."""
        measured = {
            k: [o["cost"] for o in self.observations if o["fidelity"] == k and o["cost"] is not None]
            for k in self.rungs
        }
        costs = self.cost_model(self.costs, measured)
        return np.array([float(costs[k]) for k in self.rungs])

    # ------------------------------------------------------------------ ask
    def ask(self, n: int | None = None, pool: Pool | None = None) -> list[Proposal]:
        """Next n proposals (default: `config.q`), from `pool` if given; proposals stay pending
        (fantasised) until told."""
        n = self.config.q if n is None else int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.num_asks += 1
        if pool is not None:
            W_pool = checks.mixture_rows(pool.mixtures, len(self.domains), "pool mixture")
            labels = [checks.fidelity_label(f, self.rungs) for f in pool.fidelities]
            if len(labels) != len(W_pool):
                raise ValueError(f"pool has {len(W_pool)} mixtures but {len(labels)} fidelities")
            if n > len(labels):
                raise ValueError(f"asked for {n} proposals from a pool of {len(labels)} rows")
        picks: list[Proposal] = []
        with self.surrogate.numerics():
            for i in range(n):
                key = self.key(1, self.num_asks, i)
                if self._designing(None if pool is None else labels):
                    picks.append(self._random_pick(key, pool, picks))
                elif pool is not None:
                    ctx = self.contexts(key, W_pool, self.pending)
                    j, value = best_in_pool(
                        ctx,
                        self.surrogate.inputs(W_pool, labels),
                        [p.index for p in picks if p.index is not None],
                        self.target_rung,
                        self.rung_costs(),
                        self.config.acquisition_config,
                    )
                    picks.append(Proposal(W_pool[j], labels[j], j, value))
                else:
                    picks.append(self._continuous_pick(key))
                self.pending.append(dict(mixture=np.asarray(picks[-1].mixture).tolist(), fidelity=picks[-1].fidelity))
        return picks

    def initial_runs(self) -> int:
        """How many random runs at the cheapest rung come before the acquisition chooses.

        Why: what a cheap rung says about the target is learned from the GP's fit of the cheap rung's
        function; with one cheap run there is no such fit, the model falls back on its prior and
        the acquisition judges every cheap run uninformative, so it buys target runs until it has
        seen enough of them, by when it no longer needs the cheap rungs. A first sketch of the
        cheapest rung settles that before the first choice. It costs at most
        `config.initial_design_cost` target runs, which bounds what it can lose against
        single-fidelity search where the cheap rung says nothing, and holds at most D + 1 runs (a
        first sketch of a function of D weights), which bounds it where cheap runs cost next to
        nothing. With one rung, or an acquisition that runs the target only, it is a single run."""
        if len(self.rungs) == 1 or self.config.acquisition_config.target_only:
            return 1
        costs = self.rung_costs()
        affordable = math.floor(
            self.config.initial_design_cost * costs[self.rungs.index(self.target)] / costs[0] + 1e-9
        )
        return max(1, min(len(self.domains) + 1, affordable))

    def _designing(self, pool_labels: Sequence[str] | None) -> bool:
        """Whether the next proposal belongs to the initial design: no success yet, or fewer runs
        (told, failed or pending) at the cheapest rung than `initial_runs` while it can have more
        (a pool with rows there, or none)."""
        if not self.successes():
            return True
        cheapest = self.rungs[0]
        if pool_labels is not None and cheapest not in pool_labels:
            return False
        runs = sum(o["fidelity"] == cheapest for o in self.observations) + sum(
            p["fidelity"] == cheapest for p in self.pending
        )
        return runs < self.initial_runs()

    def _random_pick(self, key: jax.Array, pool: Pool | None, picks: Sequence[Proposal]) -> Proposal:
        """A random mixture within the bounds at the cheapest rung; from a pool, a random row not
        yet picked, at the cheapest rung if the pool has one there."""
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
        if pool is not None:
            taken = {p.index for p in picks}
            free = [j for j in range(len(pool.fidelities)) if j not in taken]
            cheapest = [j for j in free if pool.fidelities[j] == self.rungs[0]]
            j = int(rng.choice(cheapest or free))
            w = checks.mixture_rows(pool.mixtures[j], len(self.domains))[0]
            return Proposal(w, pool.fidelities[j], j, float("nan"))
        w = np.asarray(project_to_bounds(rng.dirichlet(np.ones(len(self.domains))), self.lo, self.hi))
        return Proposal(w, self.rungs[0], None, float("nan"))

    def _continuous_pick(self, key: jax.Array) -> Proposal:
        k_raw, k_ctx = jax.random.split(key)
        raw = random_mixtures(k_raw, self.config.raw_samples, self.lo, self.hi)
        ctx = self.contexts(k_ctx, raw[:256], self.pending)
        acquisition = self.config.acquisition_config
        rungs = [self.target] if acquisition.target_only else self.rungs
        w, label, value = maximise(
            ctx,
            acquisition,
            raw,
            rungs,
            self.surrogate,
            self.lo,
            self.hi,
            self.rung_costs(),
            self.target_rung,
            self.config.num_restarts,
            self.config.refine_steps,
        )
        return Proposal(w, label, None, value)

    # ------------------------------------------------------------------ predict / recommend
    def predict(self, mixtures: np.ndarray, fidelity: str) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent objective at `fidelity`, original units."""
        W = checks.mixture_rows(mixtures, len(self.domains))
        checks.fidelity_label(fidelity, self.rungs)
        with self.surrogate.numerics():
            params = self.hyperparameters()
            successes = self.successes()
            outcome = self.surrogate.outcome_transform(successes, self.maximize)
            data = self.surrogate.training_data(successes, outcome)
            mean, var = self.surrogate.predict(params, data, self.surrogate.inputs(W, [fidelity] * len(W)))
        return outcome.untransform(mean, np.sqrt(np.maximum(var, 0.0)))

    @property
    def fidelity_model(self) -> FidelityModel:
        """The fidelity model in use: `config.model`, or with 'auto' the one chosen from the data so
        far (`.label` names it)."""
        return self.surrogate.model

    def tried_mixtures(self) -> np.ndarray:
        """The distinct mixtures of the successful observations, at any rung (rows)."""
        return np.unique(
            np.array([o["mixture"] for o in self.successes()], dtype=float).reshape(-1, len(self.domains)), axis=0
        )

    def rung_correlations(self, mixtures: np.ndarray | None = None) -> dict[str, float]:
        """Per rung other than the target: the model's correlation between that rung's and the
        target's latent values across `mixtures` (default: every distinct mixture told), see
        `rung_correlation`. How much the cheap rungs say about the target, as the GP sees it now."""
        if mixtures is None:
            mixtures = self.tried_mixtures()
        W = checks.mixture_rows(mixtures, len(self.domains))
        with self.surrogate.numerics():
            params = self.hyperparameters()
            rows = {label: self.surrogate.inputs(W, [label] * len(W)) for label in self.rungs}
            return rung_correlations(params.kernel, rows, self.target)

    def recommend(self, candidates: np.ndarray | None = None) -> Recommendation:
        """The mixture with the best posterior mean at the target rung, among `candidates` or
        (default) over the simplex within the bounds, seeded with the observed mixtures."""
        return recommend(self, candidates)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """What was told, as JSON-able data: the problem, the config, observations (non-finite
        values as strings), pending proposals and the number of asks."""
        return persistence.state_dict(self)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.state_dict(), f)

    @classmethod
    def from_state_dict(
        cls, state: Mapping, kernel: KernelFactory | None = None, cost_model: Any = None
    ) -> "Optimizer":
        """The Optimizer re-told `state`'s history: it proposes what one told that history fresh
        would. `kernel`: the kernel factory if it is not a built-in one (see `persistence`)."""
        return persistence.from_state_dict(cls, state, kernel, cost_model)

    @classmethod
    def load(cls, path: str, kernel: KernelFactory | None = None, cost_model: Any = None) -> "Optimizer":
        with open(path, encoding="utf-8") as f:
            return cls.from_state_dict(json.load(f), kernel=kernel, cost_model=cost_model)
