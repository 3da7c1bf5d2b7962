"""When to refit the GP hyperparameters as observations arrive, and how hard.

Refitting (L-BFGS on the marginal likelihood, O(N^3) per step) dominates a BO iteration at large
N, while one new observation rarely moves the hyperparameters much; between refits the GP is only
re-conditioned on the new data with the last hyperparameters (one Cholesky).
"""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class RefitPolicy:
    """Refit once the successful observations grew, since the last fit, by at least `every` and
    by at least the fraction `growth` of the size at that fit; a refit runs at most `warm_iters`
    L-BFGS steps from the last fit, and every `full_every`-th refit is a full multi-start fit."""

    every: int = 1
    growth: float = 0.0
    full_every: int = 10
    warm_iters: int = 20

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.every}")
        if not 0.0 <= self.growth < math.inf:
            raise ValueError(f"refit_growth must be a finite fraction >= 0, got {self.growth}")
        if self.full_every < 1 or self.warm_iters < 1:
            raise ValueError(f"full_refit_every and warm_refit_iters must be >= 1, got "
                             f"{self.full_every} and {self.warm_iters}")

    def interval(self, fit_size: int) -> int:
        """New observations needed before the next refit, after a fit on `fit_size` of them."""
        return max(self.every, math.ceil(self.growth * fit_size))

    def decide(self, num_successes: int, fit_size: int, num_fits: int) -> str:
        """'full' (first fit or every full_every-th), 'warm', or 'reuse' the last hyperparameters."""
        if num_fits == 0:
            return "full"
        if num_successes - fit_size < self.interval(fit_size):
            return "reuse"
        return "warm" if num_fits % self.full_every else "full"
