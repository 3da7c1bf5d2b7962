"""The RegMix recipe (Liu et al. 2024) as a replay baseline.

Random runs at the cheapest fidelity, a LightGBM regressor from weights to objective fitted on
them, and the target row with the best prediction as the recommendation. The regressor is refitted
whenever the training set has grown by `refit_growth` (every run while it is small), which keeps a
768-run episode to about a hundred fits; between refits the last model's pick stands.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightgbm
import numpy as np

from admire_jax.bench.policy import Policy, argbest
from admire_jax.bench.table import ReplayTask

LIGHTGBM_PARAMS = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 3,
    "min_data_in_bin": 1,
    "feature_fraction": 0.9,
    "num_threads": 1,
    "verbose": -1,
    "deterministic": True,
}
BOOST_ROUNDS = 200
MIN_ROWS_TO_FIT = 4


def lightgbm_predict(train_NxD: np.ndarray, train_N: np.ndarray, target_TxD: np.ndarray, seed: int) -> np.ndarray:
    """RegMix's regressor (LIGHTGBM_PARAMS, BOOST_ROUNDS) fitted on the training mixtures and
    objectives, and its predictions for the target mixtures."""
    params = dict(LIGHTGBM_PARAMS, seed=seed)
    booster = lightgbm.train(params, lightgbm.Dataset(train_NxD, train_N, params=params), num_boost_round=BOOST_ROUNDS)
    return booster.predict(target_TxD)


class RegMixPolicy(Policy):
    """Random cheapest-fidelity runs + LightGBM; recommends by the regressor's best target row."""

    def __init__(self, task: ReplayTask, rng: np.random.Generator, refit_growth: float = 0.05):
        super().__init__(task, (0,), rng)
        self.refit_growth = refit_growth
        self._fitted_on = 0
        self._prediction_T: np.ndarray | None = None
        self._seed = int(rng.integers(2**31 - 1))

    def pick(self, available_rows: np.ndarray, planning_costs: Mapping[int, float]) -> int:
        return int(self.rng.choice(available_rows))

    def _refit(self) -> None:
        rows = np.array(self.observed_rows)
        self._prediction_T = lightgbm_predict(
            self.task.mixtures_RxD[rows],
            self.task.value_R[rows],
            self.task.mixtures_RxD[self.task.target_rows],
            self._seed,
        )
        self._fitted_on = len(rows)

    def recommend(self) -> int:
        n = len(self.observed_rows)
        if n >= MIN_ROWS_TO_FIT and (self._prediction_T is None or n >= self._fitted_on * (1 + self.refit_growth)):
            self._refit()
        targets = self.task.target_rows
        if self._prediction_T is None:
            return int(self.rng.choice(targets))
        return int(targets[argbest(self._prediction_T, self.task.maximize, self.rng)])


def make_regmix(task: ReplayTask, rng: np.random.Generator) -> Policy:
    return RegMixPolicy(task, rng)
