"""Cost-to-best, censoring, speed-ups with bootstrap intervals, and regret curves on a cost grid."""

from __future__ import annotations

import dataclasses

import numpy as np

from admire_jax.bench.episode import Trace

VARIANTS = ("held", "held_tol", "verified", "first_hit")
EXACT = 1e-12  # regret at or below this counts as the best value (float noise only)


@dataclasses.dataclass(frozen=True)
class CostToBest:
    cost: float  # cumulative cost when reached, or the budget when censored
    censored: bool  # never reached within the budget


def held_from(ok_K: np.ndarray) -> int | None:
    """First index from which `ok_K` stays True to the end, or None."""
    if ok_K.size == 0 or not ok_K[-1]:
        return None
    failures = np.flatnonzero(~ok_K)
    return int(failures[-1] + 1) if failures.size else 0


def cost_to_best(trace: Trace, variant: str, budget: float, tol: float = 0.0) -> CostToBest:
    """Cost-to-best of one episode.

    held: the recommendation is the best target value at every step from then on;
    held_tol: the same within `tol`; verified: held, and the recommended row has been run at the
    target; first_hit: the first time the recommendation is the best, whether it stays or not.
    """
    exact_K = trace.regret_K <= EXACT
    if variant == "held":
        index = held_from(exact_K)
    elif variant == "held_tol":
        index = held_from(trace.regret_K <= tol + EXACT)
    elif variant == "verified":
        index = held_from(exact_K & trace.verified_K)
    elif variant == "first_hit":
        hits = np.flatnonzero(exact_K)
        index = int(hits[0]) if hits.size else None
    else:
        raise ValueError(f"unknown cost-to-best variant {variant!r}; expected one of {VARIANTS}")
    if index is None or trace.cum_cost_K[index] > budget:
        return CostToBest(float(budget), True)
    return CostToBest(float(trace.cum_cost_K[index]), False)


def median_is_censored(cost_N: np.ndarray, censored_N: np.ndarray) -> bool:
    """True when the median depends on a censored episode (so it is only a bound)."""
    return not np.isfinite(np.median(np.where(censored_N, np.inf, cost_N)))


def summarise(cost_N: np.ndarray, censored_N: np.ndarray) -> dict[str, float]:
    """median / q25 / q75 of cost-to-best over seeds (censored at the budget), and the solved fraction."""
    q25, median, q75 = np.percentile(cost_N, [25, 50, 75])
    return {
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "solved_fraction": float(1.0 - np.mean(censored_N)),
    }


def speedup(
    cost_a_N: np.ndarray,
    censored_a_N: np.ndarray,
    cost_b_N: np.ndarray,
    censored_b_N: np.ndarray,
    seed: int = 0,
    resamples: int = 2000,
) -> tuple[float, list[float], str]:
    """Speed-up of A over B: median cost of B / median cost of A, a 90% bootstrap CI over seeds
    (seeds resampled jointly, since the methods share them), and which bound censoring makes it."""
    ratio = float(np.median(cost_b_N) / np.median(cost_a_N))
    rng = np.random.default_rng(seed)
    idx_BxN = rng.integers(0, cost_a_N.size, size=(resamples, cost_a_N.size))
    ratios_B = np.median(cost_b_N[idx_BxN], axis=1) / np.median(cost_a_N[idx_BxN], axis=1)
    ci = [float(np.percentile(ratios_B, 5)), float(np.percentile(ratios_B, 95))]
    a_bound, b_bound = median_is_censored(cost_a_N, censored_a_N), median_is_censored(cost_b_N, censored_b_N)
    flag = {(False, False): "none", (False, True): "lower_bound", (True, False): "upper_bound", (True, True): "both"}[
        (a_bound, b_bound)
    ]
    return ratio, ci, flag


def median_ci(cost_N: np.ndarray, seed: int = 0, resamples: int = 2000) -> list[float]:
    """90% bootstrap interval of the median over seeds."""
    rng = np.random.default_rng(seed)
    medians_B = np.median(cost_N[rng.integers(0, cost_N.size, size=(resamples, cost_N.size))], axis=1)
    return [float(np.percentile(medians_B, 5)), float(np.percentile(medians_B, 95))]


def cost_grid(smallest_cost: float, budget: float, points: int = 200) -> np.ndarray:
    """A common, log-spaced grid of cumulative costs for every method's curve."""
    return np.geomspace(smallest_cost, budget, points)


def regret_on_grid(trace: Trace, grid_G: np.ndarray) -> np.ndarray:
    """Regret as a step function of cumulative cost: the last recommendation made at or below each
    grid cost (NaN before the first one)."""
    index_G = np.searchsorted(trace.cum_cost_K, grid_G, side="right") - 1
    return np.where(index_G >= 0, trace.regret_K[np.maximum(index_G, 0)], np.nan)
