"""What the search would have recommended as it went: the recommendation's posterior at the target
rung against the cost spent, refitted on the search trials finished by then.

Why this and not the best objective so far: with seed noise as large as the mixture effects, the
best single trial is mostly the luckiest draw, and a curve that follows it says how lucky the search
got, not what it learnt. The recommendation (`proposals.recommend`, the rule the search ends with)
and its posterior interval say what the search believed at each point, so a reader sees whether
spending more moved the belief, and which rung the spending went to.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from admire_jax.experiment import proposals
from admire_jax.experiment.config import LoadedExperiment
from admire_jax.experiment.proposals import Observation
from admire_jax.experiment.store import SEARCH, Trial

MAX_POINTS = 20  # refits of the GP: each is one MAP fit, so the report stays within seconds


@dataclasses.dataclass(frozen=True)
class PathPoint:
    """The recommendation after the first `finished` search trials (in order of finishing)."""

    finished: int  # search trials finished by then
    cost: float  # their measured cost, in budget units
    rung: str  # the rung of the trial that finished last
    mean: float  # the recommendation's posterior mean at the target rung
    std: float  # its posterior standard deviation (the latent function's, without observation noise)
    mixture: dict[str, float]


def finish_order(trials: Sequence[Trial]) -> list[Trial]:
    """The finished search trials in the order they finished (ties: by id)."""
    done = [t for t in trials if t.role == SEARCH and t.is_finished]
    return sorted(done, key=lambda t: (t.finished if t.finished is not None else math.inf, t.id))


def evaluation_points(costs: Sequence[float], points: int = MAX_POINTS) -> list[int]:
    """At most `points` prefix lengths (1..len(costs)), spread evenly over the cumulative cost: for
    each of `points` equally spaced cost levels, the first prefix that reaches it; the whole run last."""
    if not len(costs):
        return []
    cumulative = np.cumsum(costs)
    levels = np.linspace(0.0, cumulative[-1], points + 1)[1:]
    ends = np.searchsorted(cumulative, levels - 1e-12 * max(cumulative[-1], 1.0)) + 1
    return sorted(set(int(min(k, len(costs))) for k in ends) | {len(costs)})


def recommendation_path(
    exp: LoadedExperiment,
    warm: Sequence[Observation],
    trials: Sequence[Trial],
    cost_of: Callable[[Trial], float],
    points: int = MAX_POINTS,
) -> list[PathPoint]:
    """The recommendation at up to `points` moments of the search (see `evaluation_points`), each
    from the search trials finished by then, told in id order as the search's own refits are; moments
    before any successful trial have none and are left out. The last point is the final
    recommendation when every search trial has finished."""
    ordered = finish_order(trials)
    costs = [cost_of(t) for t in ordered]
    out = []
    for k in evaluation_points(costs, points):
        prefix = sorted(ordered[:k], key=lambda t: t.id)
        found = proposals.recommend(exp, warm, prefix)
        if found is None:
            continue
        rec = found[1]
        out.append(
            PathPoint(
                finished=k,
                cost=float(sum(costs[:k])),
                rung=ordered[k - 1].rung,
                mean=float(rec.mean),
                std=float(rec.std),
                mixture=proposals.as_mixture(rec.mixture, exp.spec.domains),
            )
        )
    return out


def cost_per_rung(trials: Sequence[Trial], cost_of: Callable[[Trial], float], rungs: Sequence[str]) -> dict:
    """Per rung, the cumulative cost it had received after each finished search trial (in order of
    finishing), beside the total: where the budget went as the search went on."""
    ordered = finish_order(trials)
    spent = {r: [] for r in rungs}
    running = dict.fromkeys(rungs, 0.0)
    for t in ordered:
        running[t.rung] += cost_of(t)
        for r in rungs:
            spent[r].append(running[r])
    return {"total": list(np.cumsum([cost_of(t) for t in ordered])), "per_rung": spent}
