"""When to refit the GP hyperparameters as observations arrive, and how hard.

Refitting (L-BFGS on the marginal likelihood, O(N^3) per step) dominates a BO iteration at large
N, while one new observation rarely moves the hyperparameters much; between refits the GP is only
re-conditioned on the new data with the last hyperparameters (one Cholesky).

Full refits (restarts from several starting points, to escape a poor local optimum) are gated
by data growth too: one new observation among many rarely moves the optimum to another basin,
a full refit costs many warm refits, and a warm refit tracks the basin it is in, so at large N a
few warm steps from the previous optimum fit about as well as a full multi-start refit.

Spaced-out refits have one blind spot, which the new-rung rule closes: a rung that had no rows at
the last fit still has its mean at the prior's centre (the level of the rungs that had rows), so
re-conditioning alone turns its first rows into huge deviations from that level, which lifts their
own mixtures far above that rung's unseen rows until the next refit (a mediocre target row can be
recommended right after it was run).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class RefitPolicy:
    """Refit once the successful observations grew, since the last fit, by at least `every` and
    by at least the fraction `growth` of the size at that fit; a refit runs at most `warm_iters`
    L-BFGS steps from the last fit, and every `full_every`-th refit is a full multi-start fit
    if the successful observations grew by at least the fraction `full_growth` since the last
    full fit (else a warm one): with the defaults, every 10th refit up to N = 100, every ~N/10-th
    beyond (every 100th at N = 1000).

    New-rung rule: with more than one rung, a 'reuse' becomes 'warm' when a rung that had fewer
    than `new_rung_rows` successful rows at the last fit has gained rows since, so each of a
    rung's first `new_rung_rows` rows is fitted as it arrives (0 = off; with a single rung every
    fit already sees its rows). It only matters when refits are spaced out: with every=1 and
    growth=0 nothing is ever reused."""

    every: int = 1
    growth: float = 0.0
    full_every: int = 10
    warm_iters: int = 20
    full_growth: float = 0.1
    new_rung_rows: int = 3

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.every}")
        for name, value in (("refit_growth", self.growth), ("full_refit_growth", self.full_growth)):
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite fraction >= 0, got {value}")
        if self.full_every < 1 or self.warm_iters < 1:
            raise ValueError(
                f"full_refit_every and warm_refit_iters must be >= 1, got {self.full_every} and {self.warm_iters}"
            )
        if self.new_rung_rows < 0:
            raise ValueError(f"new_rung_refits must be >= 0, got {self.new_rung_rows}")

    def interval(self, fit_size: int) -> int:
        """New observations needed before the next refit, after a fit on `fit_size` of them."""
        return max(self.every, math.ceil(self.growth * fit_size))

    def decide(
        self,
        num_successes: int,
        fit_size: int,
        num_fits: int,
        full_size: int,
        rung_counts: Sequence[int] = (),
        rung_counts_at_fit: Sequence[int] = (),
    ) -> str:
        """'full' (first fit, or every full_every-th refit once the data grew by the fraction
        full_growth since the last full fit, on `full_size` observations), 'warm', or 'reuse'
        the last hyperparameters. `rung_counts` / `rung_counts_at_fit`: successful observations
        of each rung now / at the last fit, for the new-rung rule (empty: no rung information)."""
        if num_fits == 0:
            return "full"
        if num_successes - fit_size < self.interval(fit_size):
            return "warm" if self.new_rung_grew(rung_counts, rung_counts_at_fit) else "reuse"
        if num_fits % self.full_every or num_successes - full_size < self.full_growth * full_size:
            return "warm"
        return "full"

    def new_rung_grew(self, rung_counts: Sequence[int], rung_counts_at_fit: Sequence[int]) -> bool:
        """Whether a rung with fewer than `new_rung_rows` rows at the last fit has gained rows."""
        if len(rung_counts) != len(rung_counts_at_fit):
            raise ValueError(f"rung_counts has {len(rung_counts)} rungs, rung_counts_at_fit {len(rung_counts_at_fit)}")
        return len(rung_counts) > 1 and any(
            then < self.new_rung_rows and now > then for now, then in zip(rung_counts, rung_counts_at_fit)
        )

    def refits_per_full(self, size: int, interval: int) -> int:
        """Refits per full refit in a steady run at `size` observations, refitting every
        `interval` observations: full refits are considered every full_every refits and run
        at the first of them with enough growth."""
        considerations = max(1, math.ceil(self.full_growth * size / (self.full_every * interval)))
        return self.full_every * considerations
