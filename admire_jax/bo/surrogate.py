"""The surrogate: told observations in, a fitted GP out.

It standardises the outcomes (`Standardize`), pads the data into one `TrainingData` record, and
fits the hyperparameters when the refit policy says so, re-conditioning on the last ones in
between. The fitted hyperparameters are a cache: a function of the observations told and of when
the GP was asked for, never part of the Optimizer's saved state.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.bo.config import FidelityModel, OptimizerConfig
from admire_jax.bo.data import TrainingData, model_inputs, pad
from admire_jax.bo.fit import fit_map, fit_nuts
from admire_jax.bo.gp import GPParams, blas_threads, condition, predict, x64
from admire_jax.bo.model_choice import MIN_TARGET_ROWS, ModelChoice, loo_log_density
from admire_jax.bo.models import build_model, input_transform
from admire_jax.bo.records import bucket
from admire_jax.bo.standardize import Standardize

Observation = Mapping  # {"mixture": [D floats], "fidelity": label, "value": float, ...}


def as64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


class Surrogate:
    """The GP over rows [w, s, r] of one problem: `rungs` cheapest first, `coords` their fidelity
    coordinates. Observations are passed in as told (successes only, oldest first)."""

    def __init__(self, num_domains: int, rungs: Sequence[str], coords: Mapping[str, float], config: OptimizerConfig):
        self.num_domains, self.rungs, self.coords, self.config = num_domains, list(rungs), dict(coords), config
        self.refit = config.refit_policy
        model = config.model_config
        if config.model != "auto":
            candidates = (FidelityModel(config.model),)
        elif len(self.rungs) > 1:
            candidates = config.model_candidates
        else:  # one rung: every fidelity model is the same single-fidelity GP
            candidates = config.model_candidates[:1]
        with x64():
            self.inits = {
                candidate.label: as64(
                    build_model(
                        num_domains,
                        len(self.rungs),
                        kind=candidate.kind,
                        kernel=config.kernel,
                        transform=input_transform(model.transform, model.pseudo_count),
                        noise_floor=model.noise_floor,
                        initial_noise=model.initial_noise,
                        rho_prior=candidate.rho_prior or model.rho_prior,
                        mean_prior_sd=model.mean_prior_sd,
                        noise_prior=model.noise_prior,
                        discrepancy_kernel=model.discrepancy_kernel,
                    )
                )
                for candidate in candidates
            }
        self.candidates = {c.label: c for c in candidates}
        self.choice = ModelChoice(tuple(self.inits), config.model_switch_margin)
        self.num_fits = 0
        self._warm: dict[str, GPParams] = {}
        self._fitted: tuple[int, GPParams] | None = None
        self._fit_size = 0  # successful observations at the last refit
        self._full_size = 0  # ... and at the last full (multi-start) refit

    def numerics(self) -> contextlib.ExitStack:
        """float64 for the GP code, and the BLAS thread limit (`blas_threads`, None = default)."""
        stack = contextlib.ExitStack()
        stack.enter_context(x64())
        stack.enter_context(blas_threads(self.config.blas_threads))
        return stack

    def inputs(self, mixtures: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Rows [w, s, r] of mixtures [N, D] run at the rungs `labels`."""
        return model_inputs(mixtures, [self.coords[f] for f in labels], [self.rungs.index(f) for f in labels])

    def outcome_transform(self, successes: Sequence[Observation], maximize: bool) -> Standardize:
        return Standardize.fit(
            [o["value"] for o in successes], [o["fidelity"] for o in successes], maximize, self.config.standardize
        )

    def training_data(
        self, successes: Sequence[Observation], outcome: Standardize, pending: Sequence[Observation] = ()
    ) -> TrainingData:
        """The successes and then the pending points (fantasies), padded to their bucket."""
        rows = list(successes) + list(pending)
        size = bucket(len(rows))
        inputs = pad(self.inputs(np.array([o["mixture"] for o in rows]), [o["fidelity"] for o in rows]), size)
        y = pad(outcome.forward([o["value"] for o in successes]), size)
        index = np.arange(size)
        return TrainingData(inputs, y, index < len(rows), (index >= len(successes)) & (index < len(rows)))

    def params(self, successes: Sequence[Observation], version: int, key: jax.Array, maximize: bool) -> GPParams:
        """Hyperparameters (leading sample axis) for the data at `version` (number of observations
        told, failed ones included); refits per the policy. Observations are only appended, so the
        last fit saw the first `_fit_size` successes."""
        if self._fitted is not None and self._fitted[0] == version:
            return self._fitted[1]
        num_successes = len(successes)
        if not num_successes:
            raise ValueError("no successful observations yet: tell() at least one finite value first")
        kind = self.refit.decide(
            num_successes,
            self._fit_size,
            self.num_fits if self._fitted else 0,
            self._full_size,
            self._rung_counts(successes),
            self._rung_counts(successes[: self._fit_size]),
        )
        if kind == "reuse":
            self._fitted = (version, self._fitted[1])  # the GP is re-conditioned on the new data
            return self._fitted[1]
        data = self.training_data(successes, self.outcome_transform(successes, maximize))
        map_fit = self.config.map_fit
        map_options = dict(
            num_restarts=map_fit.num_restarts, max_iters=map_fit.max_iters, tol=map_fit.tol, ftol=map_fit.ftol
        )
        full = kind == "full" or self.choice.current not in self._warm  # a warm fit needs a last fit
        choosing = len(self.inits) > 1 and self._rung_counts(successes)[-1] >= MIN_TARGET_ROWS
        if kind == "full" and choosing:  # the candidates differ in what target rows say: none, no choice
            fits = {k: self._fit(k, data, key, True, map_options) for k in self.inits}
            self.choice.update({k: float(loo_log_density(p, data)) for k, p in fits.items()})
            params = fits[self.choice.current]
        else:
            params = self._fit(self.choice.current, data, key, full, map_options)
        if full and self.config.fit == "map":
            self._full_size = num_successes
        self.num_fits += 1
        self._fit_size = num_successes
        self._fitted = (version, params)
        return params

    @property
    def model(self) -> FidelityModel:
        """The fidelity model in use (the chosen one with `model='auto'`)."""
        return self.candidates[self.choice.current]

    def _fit(self, label: str, data: TrainingData, key: jax.Array, full: bool, map_options: dict) -> GPParams:
        """Fits one fidelity model: a full multi-start fit, or a few steps from its last fit."""
        init, warm = self.inits[label], self._warm.get(label)
        if self.config.fit == "nuts":
            nuts = self.config.nuts_fit
            params = fit_nuts(
                init,
                data,
                key,
                warm=warm,
                num_warmup=nuts.num_warmup,
                num_samples=nuts.num_samples,
                num_hyper_samples=nuts.num_hyper_samples,
                max_tree_depth=nuts.max_tree_depth,
                map_options=map_options,
            )
        elif not full:  # a few steps from the last fit
            params = fit_map(
                init, data, key, warm=warm, **dict(map_options, num_restarts=0, max_iters=self.refit.warm_iters)
            )
        else:
            params = fit_map(init, data, key, warm=warm, **map_options)
        self._warm[label] = jax.tree_util.tree_map(lambda a: a[0], params)
        return params

    def _rung_counts(self, observations: Sequence[Observation]) -> list[int]:
        """How many of `observations` each rung holds, in the order of `rungs`."""
        return [sum(o["fidelity"] == k for o in observations) for k in self.rungs]

    def predict(self, params: GPParams, data: TrainingData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (standardised) of the latent function at rows [w, s, r],
        mixed over hyperparameter samples."""
        m_S, v_S = (np.asarray(a)[:, : len(rows)] for a in _predict_samples(params, data, pad(rows)))
        mean = m_S.mean(0)
        return mean, (v_S + m_S**2).mean(0) - mean**2


@jax.jit
def _predict_samples(params_S: GPParams, data: TrainingData, Xs):
    return jax.vmap(lambda p: predict(condition(p, data.inputs, data.y, data.mask), Xs))(params_S)
