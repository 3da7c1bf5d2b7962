"""Validation of user input to the Optimizer, with messages that name the offending row."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

SUM_TOLERANCE = 1e-3


def mixture_rows(W, num_domains: int, what: str = "mixture", tolerance: float = SUM_TOLERANCE) -> np.ndarray:
    """[M, D] (or [D]) weights -> float64 [M, D] rows renormalised to sum 1.

    Raises ValueError naming the row for a wrong shape, NaN/inf, negative weights, or a sum
    further than `tolerance` from 1.
    """
    W = np.asarray(W, dtype=np.float64)
    W2 = W[None] if W.ndim == 1 else W
    if W2.ndim != 2 or W2.shape[1] != num_domains:
        raise ValueError(f"{what}: expected {num_domains} weights per row (one per domain), got shape {W.shape}")
    finite = np.all(np.isfinite(W2), axis=1)
    negative = np.any(W2 < 0, axis=1)
    off = np.abs(W2.sum(axis=1) - 1.0) > tolerance
    bad = np.flatnonzero(~finite | negative | off)
    if bad.size:
        i = int(bad[0])
        row, name = W2[i], (what if W.ndim == 1 else f"{what} row {i}")
        if not finite[i]:
            raise ValueError(f"{name}: weights must be finite, got {row.tolist()}")
        if negative[i]:
            raise ValueError(f"{name}: weights must be non-negative, got {row.tolist()}")
        raise ValueError(f"{name}: weights sum to {row.sum():.6g}, not 1 (tolerance {tolerance})")
    return W2 / W2.sum(axis=1, keepdims=True)


def fidelity_costs(fidelities: Mapping[str, float], target: str) -> dict[str, float]:
    costs = {str(k): float(v) for k, v in fidelities.items()}
    if not costs:
        raise ValueError("fidelities must name at least the target rung")
    bad = [k for k, c in costs.items() if not (np.isfinite(c) and c > 0)]
    if bad:
        raise ValueError(f"fidelity costs must be positive and finite; bad for {bad}")
    if target not in costs:
        raise ValueError(f"target {target!r} is not one of the fidelities {sorted(costs)}")
    if max(costs.values()) > costs[target]:
        raise ValueError(f"the target {target!r} must be the most expensive rung; costs {costs}")
    return costs


def fidelity_label(label: str, known: Sequence[str]) -> str:
    if label not in known:
        raise ValueError(f"unknown fidelity {label!r}; known: {list(known)}")
    return label


def bounds_arrays(
    bounds: Mapping[str, tuple[float, float]] | None, domains: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-domain (lower, upper) weight bounds; domains not named are [0, 1]."""
    lo, hi = np.zeros(len(domains)), np.ones(len(domains))
    for name, (a, b) in (bounds or {}).items():
        if name not in domains:
            raise ValueError(f"bounds name unknown domain {name!r}; domains: {list(domains)}")
        if not (0.0 <= a <= b <= 1.0):
            raise ValueError(f"bounds for {name!r} must satisfy 0 <= lower <= upper <= 1, got {(a, b)}")
        i = list(domains).index(name)
        lo[i], hi[i] = a, b
    if lo.sum() > 1.0 + 1e-9 or hi.sum() < 1.0 - 1e-9:
        raise ValueError(f"bounds leave no mixture summing to 1 (lower sum {lo.sum():.4g}, upper sum {hi.sum():.4g})")
    return lo, hi
