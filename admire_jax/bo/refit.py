"""When to refit the GP hyperparameters as observations arrive, and how hard.

Refitting (L-BFGS on the marginal likelihood, O(N^3) per step) dominates a BO iteration at large
N, while one new observation rarely moves the hyperparameters much; between refits the GP is only
re-conditioned on the new data with the last hyperparameters (one Cholesky).

Full refits (restarts from several starting points, to escape a poor local optimum) are gated
by data growth too: one new observation among a thousand rarely moves the optimum to another
basin, a full refit at N = 1000 costs ~15 warm refits (BENCHMARKS.md), and a warm
refit tracks the basin it is in (at N = 1000, 20 warm steps from the previous multi-start optimum
reached a MAP objective of 0.1670 nats per observation, a 4-start full refit 0.1677).
"""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class RefitPolicy:
    """Refit once the successful observations grew, since the last fit, by at least `every` and
    by at least the fraction `growth` of the size at that fit; a refit runs at most `warm_iters`
    L-BFGS steps from the last fit, and every `full_every`-th refit is a full multi-start fit
    if the successful observations grew by at least the fraction `full_growth` since the last
    full fit (else a warm one): with the defaults, every 10th refit up to N = 100, every ~N/10-th
    beyond (every 100th at N = 1000)."""

    every: int = 1
    growth: float = 0.0
    full_every: int = 10
    warm_iters: int = 20
    full_growth: float = 0.1

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.every}")
        for name, value in (("refit_growth", self.growth), ("full_refit_growth", self.full_growth)):
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite fraction >= 0, got {value}")
        if self.full_every < 1 or self.warm_iters < 1:
            raise ValueError(f"full_refit_every and warm_refit_iters must be >= 1, got "
                             f"{self.full_every} and {self.warm_iters}")

    def interval(self, fit_size: int) -> int:
        """New observations needed before the next refit, after a fit on `fit_size` of them."""
        return max(self.every, math.ceil(self.growth * fit_size))

    def decide(self, num_successes: int, fit_size: int, num_fits: int, full_size: int) -> str:
        """'full' (first fit, or every full_every-th refit once the data grew by the fraction
        full_growth since the last full fit, on `full_size` observations), 'warm', or 'reuse'
        the last hyperparameters."""
        if num_fits == 0:
            return "full"
        if num_successes - fit_size < self.interval(fit_size):
            return "reuse"
        if num_fits % self.full_every or num_successes - full_size < self.full_growth * full_size:
            return "warm"
        return "full"

    def refits_per_full(self, size: int, interval: int) -> int:
        """Refits per full refit in a steady run at `size` observations, refitting every
        `interval` observations: full refits are considered every full_every refits and run
        at the first of them with enough growth."""
        considerations = max(1, math.ceil(self.full_growth * size / (self.full_every * interval)))
        return self.full_every * considerations
