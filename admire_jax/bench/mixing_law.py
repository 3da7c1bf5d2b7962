"""A data-mixing law and the replay baseline that fits it (in the spirit of Ye et al. 2024, "Data
Mixing Laws").

The law: objective(w) = c + sum_j a_j (1 - exp(-w_j / s)) + sum_{j<k} b_jk w_j w_k over a mixture
w on the simplex: a saturating effect per domain (amplitude a_j, shared saturation scale s) plus
pairwise interactions. The table generator (`bench.generate`) draws its target and cheap-rung
functions from this family, so on generated tables the baseline is a well-specified model.

The baseline (`mixing_law` in the replay) runs the cheapest rung's rows in random order, as the
`regmix` baseline does, fits the law to them, and recommends the target row with the best
prediction. For a fixed s the law is linear in (c, a, b); the fit is ridge regression, with s and
the ridge penalty chosen by generalised cross-validation over small grids, so a fit with fewer rows
than coefficients (D = 19 has 190) stays well posed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from admire_jax.bench.policy import Policy, argbest
from admire_jax.bench.table import ReplayTask

SATURATIONS = (0.02, 0.05, 0.1, 0.2, 0.5)  # candidate s of the fit (the generator's default is 0.1)
RELATIVE_PENALTIES = np.geomspace(1e-8, 1e2, 21)  # ridge penalty / mean squared singular value
MIN_ROWS_TO_FIT = 4


def law_features(mixtures_NxD: np.ndarray, saturation: float) -> np.ndarray:
    """The law's features (without the constant): D saturating terms, then D(D-1)/2 products w_j w_k."""
    mixtures_NxD = np.asarray(mixtures_NxD, np.float64)
    saturating_NxD = 1.0 - np.exp(-mixtures_NxD / saturation)
    j, k = np.triu_indices(mixtures_NxD.shape[1], 1)
    return np.concatenate([saturating_NxD, mixtures_NxD[:, j] * mixtures_NxD[:, k]], axis=1)


@dataclasses.dataclass(frozen=True)
class MixingLaw:
    """One member of the family: constant, coefficients of `law_features` and the saturation s."""

    constant: float
    coefficients_P: np.ndarray
    saturation: float

    def __call__(self, mixtures_NxD: np.ndarray) -> np.ndarray:
        return self.constant + law_features(mixtures_NxD, self.saturation) @ self.coefficients_P


def random_law(domains: int, saturation: float, interaction_scale: float, rng: np.random.Generator) -> MixingLaw:
    """A law with amplitudes a_j ~ N(0, 1) and interactions b_jk ~ N(0, interaction_scale^2)."""
    amplitudes_D = rng.normal(size=domains)
    interactions = rng.normal(scale=interaction_scale, size=domains * (domains - 1) // 2)
    return MixingLaw(0.0, np.concatenate([amplitudes_D, interactions]), saturation)


def _spectrum(features_NxP: np.ndarray):
    """(U, singular values, map): the thin SVD F = U diag(s) V^T of the centred features, and the map
    taking z to the ridge coefficients F^T U z (= V diag(s) z). With more features than rows it comes
    from the rows' Gram matrix, which is far cheaper than the SVD (D = 60: 1830 features)."""
    n, p = features_NxP.shape
    if p <= n:
        u_NxM, s_M, vt_MxP = np.linalg.svd(features_NxP, full_matrices=False)
        return u_NxM, s_M, lambda z_M: vt_MxP.T @ (s_M * z_M)
    eigenvalues_N, u_NxN = np.linalg.eigh(features_NxP @ features_NxP.T)
    return u_NxN, np.sqrt(np.clip(eigenvalues_N, 0.0, None)), lambda z_N: features_NxP.T @ (u_NxN @ z_N)


def fit_law(mixtures_NxD: np.ndarray, values_N: np.ndarray) -> MixingLaw:
    """Ridge fit of the law to (mixture, value) pairs; s and the penalty minimise the GCV score."""
    values_N = np.asarray(values_N, np.float64)
    n = values_N.size
    if n < 2:
        raise ValueError(f"fitting a mixing law needs at least 2 rows, got {n}")
    mean = float(values_N.mean())
    centred_N = values_N - mean
    best: tuple[float, MixingLaw] | None = None
    for saturation in SATURATIONS:
        features_NxP = law_features(mixtures_NxD, saturation)
        feature_mean_P = features_NxP.mean(axis=0)
        u_NxM, s_M, coefficient_map = _spectrum(features_NxP - feature_mean_P)
        projected_M = u_NxM.T @ centred_N
        outside = float(centred_N @ centred_N - projected_M @ projected_M)  # residual no penalty removes
        scale = float(np.mean(s_M**2)) or 1.0
        for penalty in RELATIVE_PENALTIES * scale:
            shrink_M = s_M**2 / (s_M**2 + penalty)
            dof = 1.0 + float(shrink_M.sum())  # the constant counts as one
            if dof >= n - 0.5:
                continue
            residual = outside + float(np.sum(((1.0 - shrink_M) * projected_M) ** 2))
            gcv = n * residual / (n - dof) ** 2
            if best is None or gcv < best[0]:
                coefficients_P = coefficient_map(projected_M / (s_M**2 + penalty))
                best = (gcv, MixingLaw(mean - float(feature_mean_P @ coefficients_P), coefficients_P, saturation))
    assert best is not None  # the largest penalty leaves dof ~ 1 < n - 0.5 for any n >= 2
    return best[1]


class MixingLawPolicy(Policy):
    """Random cheapest-rung runs + the fitted law; recommends the law's best target row. The law is
    refitted whenever the rows seen have grown by `refit_growth` (every row while they are few)."""

    def __init__(self, task: ReplayTask, rng: np.random.Generator, refit_growth: float = 0.05):
        super().__init__(task, (0,), rng)
        self.refit_growth = refit_growth
        self._fitted_on = 0
        self._prediction_T: np.ndarray | None = None

    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        return int(self.rng.choice(available_rows))

    def recommend(self) -> int:
        n = len(self.observed_rows)
        if n >= MIN_ROWS_TO_FIT and (self._prediction_T is None or n >= self._fitted_on * (1 + self.refit_growth)):
            rows = np.array(self.observed_rows)
            law = fit_law(self.task.mixtures_RxD[rows], self.task.value_R[rows])
            self._prediction_T = law(self.task.mixtures_RxD[self.task.target_rows])
            self._fitted_on = n
        targets = self.task.target_rows
        if self._prediction_T is None:
            return int(self.rng.choice(targets))
        return int(targets[argbest(self._prediction_T, self.task.maximize, self.rng)])


def make_mixing_law(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return MixingLawPolicy(task, rng)
