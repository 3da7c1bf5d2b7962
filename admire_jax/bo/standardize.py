"""Outcome standardisation as a transform (like BoTorch's outcome transforms): `forward` maps
objective values to the maximised, unit-scale outcomes the GP models, `untransform` maps the GP's
posterior moments back to objective units."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Standardize:
    """y = sign * (value - centre') / unit: `sign` makes larger better, `centre` and `unit` are the
    mean and spread of the signed values the transform was fitted on."""

    centre: float
    unit: float
    sign: float

    @classmethod
    def fit(cls, values: Sequence[float], rung_labels: Sequence[str], maximize: bool, kind: str) -> "Standardize":
        """Centre on the mean of `values`; unit: their sd pooled over rungs ('pooled') or around
        each rung's own mean ('within_rung'); 1 where that spread is (nearly) zero."""
        sign = 1.0 if maximize else -1.0
        y = np.array(values, dtype=np.float64) * sign
        sd = float(y.std()) if y.size > 1 else 0.0
        if kind == "within_rung":
            sd = within_rung_sd(y, np.array(rung_labels), fallback=sd)
        centre = float(y.mean())
        return cls(centre, sd if sd > 1e-12 * max(1.0, abs(centre)) else 1.0, sign)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Objective values -> standardised outcomes (larger is better)."""
        return (np.asarray(values, np.float64) * self.sign - self.centre) / self.unit

    def untransform(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of standardised outcomes -> objective units."""
        return self.sign * (self.centre + self.unit * mean), self.unit * std


def within_rung_sd(y: np.ndarray, rung_labels: np.ndarray, fallback: float) -> float:
    """Root mean square of the outcomes around their own rung's mean (with one rung: their sd);
    `fallback` while no rung holds two rows.

    Why: with several rungs the pooled sd is dominated by the offsets between rungs, which the
    per-rung means of the GP already model; the priors on variances, noise and AR1 factors are
    written for a unit mixture effect, and a pooled unit would also jump whenever a new rung's first
    row arrives. Around the rung means the unit is the mixture effect itself."""
    _, index, counts = np.unique(rung_labels, return_inverse=True, return_counts=True)
    if not counts.size or counts.max() < 2:
        return fallback
    residual = y - (np.bincount(index, weights=y) / counts)[index]
    return float(np.sqrt(np.mean(residual**2)))
