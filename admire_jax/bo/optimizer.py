"""The ask/tell Optimizer: multi-fidelity, cost-aware Bayesian optimisation of mixtures.

All GP work runs in float64 inside `x64()`; inputs are padded to size buckets so that a long
run reuses a handful of compiled programs. The whole state is JSON (see `persistence`).
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.bo import checks
from admire_jax.bo.cost import FixedCost
from admire_jax.bo.fidelity import fidelity_coordinates
from admire_jax.bo.fit import fit_map, fit_nuts
from admire_jax.bo.gp import GPParams, blas_threads, condition, predict, x64
from admire_jax.bo.config import OptimizerConfig, default_config
from admire_jax.bo.models import build_model
from admire_jax.bo.persistence import Persistent
from admire_jax.bo.records import Pool, Proposal, Recommendation, bucket
from admire_jax.bo.refit import RefitPolicy
from admire_jax.bo.propose import (AcquisitionConfig, make_contexts, pool_values, project_rows,
                                   project_to_bounds, refine)

class Optimizer(Persistent):
    """Ask/tell BO over mixtures (simplex of `domains`) x rungs (`fidelities`: label -> cost).

    `config` holds every engine knob (None: `OptimizerConfig`'s defaults); `cost_model` maps
    declared and measured costs to the expected cost of each rung (None: the declared costs).

    Refit policy (`OptimizerConfig`'s refit knobs, see `refit.RefitPolicy`): between refits the GP
    is only re-conditioned on the new data with the last hyperparameters (one Cholesky); a refit
    is warm (a few L-BFGS steps from the last fit) or, now and then, full (several starts).

    Outcomes are standardised before the GP sees them: centred on their mean, in units of their
    spread around each rung's own mean (`standardize='within_rung'`, the default) or of their
    pooled spread ('pooled'). With one rung the two are the same (see `_within_rung_sd`).
    """

    def __init__(self, domains: Sequence[str], fidelities: Mapping[str, float], target: str, *,
                 maximize: bool = False, seed: int = 0, bounds: Mapping[str, tuple[float, float]] | None = None,
                 cost_model: Any = None, config: OptimizerConfig | None = None):
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
        self.coords = fidelity_coordinates(self.costs, target, kind=self.config.fidelity_map)
        self.refit = self.config.refit_policy
        self.acq = self.config.acquisition_config
        self.cost_model = cost_model or FixedCost()
        self.observations: list[dict] = []
        self.pending: list[dict] = []
        self.num_asks = 0
        self.num_fits = 0
        with x64():
            self._init = self._as64(build_model(len(self.domains), len(self.rungs), kind=self.config.model,
                                                kernel=self.config.kernel))
        self._warm: GPParams | None = None
        self._fitted: tuple[int, GPParams] | None = None
        self._fit_size = 0  # successful observations at the last refit
        self._full_size = 0  # ... and at the last full (multi-start) refit

    def _numerics(self):
        """float64 for the GP code, and the BLAS thread limit (`blas_threads`, None = default)."""
        stack = contextlib.ExitStack()
        stack.enter_context(x64())
        stack.enter_context(blas_threads(self.config.blas_threads))
        return stack

    # ------------------------------------------------------------------ data
    @staticmethod
    def _as64(tree):
        return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)

    def tell(self, mixture: np.ndarray, fidelity: str, value: float, cost: float | None = None) -> None:
        """Record a finished run; NaN/inf values are kept as failed runs and never modelled."""
        w = checks.mixture_rows(mixture, len(self.domains))[0]
        checks.fidelity_label(fidelity, self.rungs)
        value = float(value)
        self.observations.append(dict(mixture=w.tolist(), fidelity=fidelity, value=value,
                                      cost=None if cost is None else float(cost), failed=not math.isfinite(value)))
        for i, p in enumerate(self.pending):
            if p["fidelity"] == fidelity and np.allclose(p["mixture"], w, atol=1e-6):
                del self.pending[i]
                break

    def clear_pending(self) -> None:
        self.pending = []

    def _rows(self, W: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        s = np.array([self.coords[f] for f in labels])[:, None]
        r = np.array([self.rungs.index(f) for f in labels], dtype=np.float64)[:, None]
        return np.concatenate([W, s, r], axis=1)

    def _successes(self) -> list[dict]:
        return [o for o in self.observations if not o["failed"]]

    def _rung_counts(self, observations: Sequence[dict]) -> list[int]:
        """How many of `observations` each rung holds, in the order of `self.rungs`."""
        return [sum(o["fidelity"] == k for o in observations) for k in self.rungs]

    def _standardisation(self) -> tuple[float, float]:
        """Centre and unit of the outcomes fed to the GP (maximisation): the mean of all successes,
        and their sd, pooled over rungs ('pooled') or around each rung's own mean ('within_rung')."""
        successes = self._successes()
        y = np.array([o["value"] for o in successes]) * (1.0 if self.maximize else -1.0)
        sd = float(y.std()) if y.size > 1 else 0.0
        if self.config.standardize == "within_rung":
            sd = _within_rung_sd(y, np.array([o["fidelity"] for o in successes]), fallback=sd)
        return float(y.mean()), (sd if sd > 1e-12 * max(1.0, abs(float(y.mean()))) else 1.0)

    def _data(self, pending: Sequence[dict] = ()):
        obs = self._successes()
        mu, sd = self._standardisation()
        allrows = list(obs) + list(pending)
        n = len(allrows)
        Nb = bucket(n)
        X = np.zeros((Nb, len(self.domains) + 2))
        X[:n] = self._rows(np.array([o["mixture"] for o in allrows]), [o["fidelity"] for o in allrows])
        y = np.zeros(Nb)
        y[: len(obs)] = (np.array([o["value"] for o in obs]) * (1.0 if self.maximize else -1.0) - mu) / sd
        mask, fantasy = np.arange(Nb) < n, (np.arange(Nb) >= len(obs)) & (np.arange(Nb) < n)
        return X, y, mask, fantasy

    # ------------------------------------------------------------------ model
    def _key(self, *path: int) -> jax.Array:
        key = jax.random.key(self.seed)
        for p in path:
            key = jax.random.fold_in(key, p)
        return key

    def _params(self) -> GPParams:
        """Hyperparameters (leading sample axis) for the current data; refits per the policy."""
        version = len(self.observations)
        if self._fitted is not None and self._fitted[0] == version:
            return self._fitted[1]
        successes = self._successes()
        num_successes = len(successes)
        if not num_successes:
            raise ValueError("no successful observations yet: tell() at least one finite value first")
        # observations are only appended, so the last fit saw the first `_fit_size` successes
        kind = self.refit.decide(num_successes, self._fit_size, self.num_fits if self._fitted else 0,
                                 self._full_size, self._rung_counts(successes),
                                 self._rung_counts(successes[: self._fit_size]))
        if kind == "reuse":
            self._fitted = (version, self._fitted[1])  # the GP is re-conditioned on the new data
            return self._fitted[1]
        X, y, mask, _ = self._data()
        key = self._key(0, version)
        if self.config.fit == "nuts":
            params = fit_nuts(self._init, X, y, mask, key, warm=self._warm)
        elif kind == "warm" and self._warm is not None:
            params = fit_map(self._init, X, y, mask, key, warm=self._warm, num_restarts=0,
                             max_iters=self.refit.warm_iters)  # a few steps from the last fit
        else:
            params = fit_map(self._init, X, y, mask, key, warm=self._warm)
            self._full_size = num_successes
        self.num_fits += 1
        self._fit_size = num_successes
        self._warm = jax.tree_util.tree_map(lambda a: a[0], params)
        self._fitted = (version, params)
        return params

    def _cost_array(self) -> np.ndarray:
        measured = {k: [o["cost"] for o in self.observations if o["fidelity"] == k and o["cost"] is not None]
                    for k in self.rungs}
        costs = self.cost_model(self.costs, measured)
        return np.array([float(costs[k]) for k in self.rungs])

    # ------------------------------------------------------------------ ask
    def ask(self, n: int | None = None, pool: Pool | None = None) -> list[Proposal]:
        """Next n proposals (default: `config.q`); proposals stay pending (fantasised) until told."""
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
        with self._numerics():
            for i in range(n):
                key = self._key(1, self.num_asks, i)
                if not self._successes():
                    picks.append(self._random_pick(key, pool, picks))
                elif pool is not None:
                    picks.append(self._pool_pick(key, W_pool, labels, picks))
                else:
                    picks.append(self._continuous_pick(key, picks))
                self.pending.append(dict(mixture=np.asarray(picks[-1].mixture).tolist(), fidelity=picks[-1].fidelity))
        return picks

    def _random_pick(self, key, pool: Pool | None, picks) -> Proposal:
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
        if pool is not None:
            taken = {p.index for p in picks}
            free = [j for j in range(len(pool.fidelities)) if j not in taken]
            j = int(rng.choice(free))
            w = checks.mixture_rows(pool.mixtures[j], len(self.domains))[0]
            return Proposal(w, pool.fidelities[j], j, float("nan"))
        w = np.asarray(project_to_bounds(jnp.asarray(rng.dirichlet(np.ones(len(self.domains)))),
                                         jnp.asarray(self.lo), jnp.asarray(self.hi)))
        return Proposal(self._clean(w), self.rungs[0], None, float("nan"))

    def _contexts(self, key, Wc: np.ndarray, pending: Sequence[dict] = ()):
        params = self._params()
        X, y, mask, fantasy = self._data(pending)
        obs_W = X[mask, : len(self.domains)]
        Wc = np.concatenate([Wc, obs_W])
        Mb = bucket(len(Wc))
        Xc = np.zeros((Mb, len(self.domains) + 2))
        Xc[: len(Wc), : len(self.domains)] = Wc
        s_t, r_t = self.coords[self.target], float(self.rungs.index(self.target))
        ctx = make_contexts(params, X, y, mask, fantasy, Xc, np.arange(Mb) < len(Wc), s_t, r_t, key,
                            cfg=self.acq, has_fantasies=bool(fantasy.any()))
        return ctx, s_t, r_t

    def _pool_pick(self, key, W_pool: np.ndarray, labels: Sequence[str], picks) -> Proposal:
        ctx, s_t, r_t = self._contexts(key, W_pool, self.pending)
        M, Mb = len(labels), bucket(len(labels))
        X = np.zeros((Mb, len(self.domains) + 2))
        X[:M] = self._rows(W_pool, labels)
        valid = np.arange(Mb) < M
        valid[[p.index for p in picks if p.index is not None]] = False
        vals = np.asarray(pool_values(ctx, X, valid, s_t, r_t, self._cost_array(), cfg=self.acq))
        if vals.max() <= -1e29:
            raise ValueError(f"no pool row can be scored by {self.acq.kind!r} (it needs target-rung rows)")
        j = int(np.argmax(vals))
        return Proposal(W_pool[j], labels[j], j, float(vals[j]))

    def _continuous_pick(self, key, picks) -> Proposal:
        k_raw, k_ctx = jax.random.split(key)
        W_raw = self._dirichlet(k_raw, self.config.raw_samples)
        ctx, s_t, r_t = self._contexts(k_ctx, W_raw[:256], self.pending)
        rungs = [self.target] if self.acq.target_only else self.rungs
        w, label, value = self._maximise(ctx, self.acq, W_raw, rungs, s_t, r_t)
        return Proposal(w, label, None, value)

    def _dirichlet(self, key, n: int) -> np.ndarray:
        W = jax.random.dirichlet(key, jnp.ones(len(self.domains)), (n,))
        return np.asarray(project_rows(W, jnp.asarray(self.lo), jnp.asarray(self.hi)))

    def _maximise(self, ctx, cfg: AcquisitionConfig, W_raw: np.ndarray, rungs: Sequence[str], s_t, r_t):
        """Raw samples scored at every allowed rung, then gradient refinement of the best few."""
        rows = np.concatenate([self._rows(W_raw, [k] * len(W_raw)) for k in rungs])
        Mb = bucket(len(rows))
        X = np.zeros((Mb, rows.shape[1]))
        X[: len(rows)] = rows
        cost = self._cost_array()
        vals = np.asarray(pool_values(ctx, X, np.arange(Mb) < len(rows), s_t, r_t, cost, cfg=cfg))[: len(rows)]
        top = np.argsort(-vals.reshape(len(rungs), len(W_raw)), axis=1)[:, : self.config.num_restarts]
        starts = np.concatenate([rows[i * len(W_raw) + top[i]] for i in range(len(rungs))])
        W, v = refine(ctx, starts[:, :-2], starts[:, -2], starts[:, -1], self.lo, self.hi, cost, s_t, r_t, cfg=cfg,
                      steps=self.config.refine_steps)
        W, v = np.asarray(W), np.asarray(v)
        i = int(np.argmax(v))
        return self._clean(W[i]), self.rungs[int(starts[i, -1])], float(v[i])

    def _clean(self, w: np.ndarray) -> np.ndarray:
        """Exactly on the simplex and inside the bounds (guards against round-off)."""
        w = np.clip(w, self.lo, self.hi)
        for _ in range(50):
            gap = 1.0 - w.sum()
            free = (w < self.hi) if gap > 0 else (w > self.lo)
            if abs(gap) < 1e-15 or not free.any():
                break
            w = np.clip(w + gap / free.sum() * free, self.lo, self.hi)
        return w

    # ------------------------------------------------------------------ predict / recommend
    def predict(self, mixtures: np.ndarray, fidelity: str) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent objective at `fidelity`, original units."""
        W = checks.mixture_rows(mixtures, len(self.domains))
        checks.fidelity_label(fidelity, self.rungs)
        with self._numerics():
            mean, std = self._predict_rows(self._rows(W, [fidelity] * len(W)))
        return mean, std

    def _predict_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        params = self._params()
        X, y, mask, _ = self._data()
        M, Mb = len(rows), bucket(len(rows))
        Xs = np.zeros((Mb, rows.shape[1]))
        Xs[:M] = rows
        m_S, v_S = (np.asarray(a)[:, :M] for a in _predict_samples(params, X, y, mask, Xs))
        mean = m_S.mean(0)
        var = (v_S + m_S**2).mean(0) - mean**2
        mu, sd = self._standardisation()
        sign = 1.0 if self.maximize else -1.0
        return sign * (mu + sd * mean), sd * np.sqrt(np.maximum(var, 0.0))

    def recommend(self, candidates: np.ndarray | None = None) -> Recommendation:
        """The mixture with the best posterior mean at the target rung, among `candidates` or
        (default) over the simplex within the bounds, seeded with the observed mixtures."""
        if candidates is not None:
            W = checks.mixture_rows(candidates, len(self.domains), "candidate")
            mean, std = self.predict(W, self.target)
            j = int(np.argmax(mean if self.maximize else -mean))
            return Recommendation(W[j], float(mean[j]), float(std[j]), j)
        with self._numerics():
            ctx, s_t, r_t = self._contexts(self._key(2, len(self.observations)), np.zeros((0, len(self.domains))))
            W_raw = self._dirichlet(self._key(3, len(self.observations)), self.config.raw_samples)
            best, _, _ = self._maximise(ctx, AcquisitionConfig("mean"), W_raw, [self.target], s_t, r_t)
        seen = np.array([o["mixture"] for o in self._successes()])
        inside = np.all((seen >= self.lo - 1e-12) & (seen <= self.hi + 1e-12), axis=1)
        W = np.concatenate([best[None], seen[inside]])
        mean, std = self.predict(W, self.target)
        j = int(np.argmax(mean if self.maximize else -mean))
        return Recommendation(W[j], float(mean[j]), float(std[j]), None)


def _within_rung_sd(y: np.ndarray, rung_labels: np.ndarray, fallback: float) -> float:
    """Root mean square of the outcomes around their own rung's mean (with one rung: their sd);
    `fallback` while no rung holds two rows.

    Why: with several rungs the pooled sd is dominated by the offsets between rungs (RegMix Pile
    table: mean loss 5.3 at 1M, 2.2 at 1B, sd within a rung 0.05-0.3), which the per-rung means
    already model; the GP's variance, noise and AR1 priors then meet a mixture signal a tenth of a
    unit wide, and the unit jumps whenever a new rung's first row arrives. Around the rung means
    the unit is the mixture effect itself, and a rung's first row leaves it nearly unchanged."""
    _, index, counts = np.unique(rung_labels, return_inverse=True, return_counts=True)
    if not counts.size or counts.max() < 2:
        return fallback
    residual = y - (np.bincount(index, weights=y) / counts)[index]
    return float(np.sqrt(np.mean(residual**2)))


@jax.jit
def _predict_samples(params_S: GPParams, X, y, mask, Xs):
    return jax.vmap(lambda p: predict(condition(p, X, y, mask), Xs))(params_S)
