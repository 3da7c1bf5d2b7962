"""The optimiser state as a pure function of the recorded trials, the seed and the config.

Nothing here keeps state between calls: each proposal builds a fresh Optimizer, tells it the
warm-start rows and then the finished search trials in id order, fantasises the unfinished ones as
pending, and draws its randomness from (seed, id of the first trial it proposes). What a proposal
was computed from is its `basis`, stored with the trial: so `replay` recomputes any proposal from
the store, and a controller killed at any moment and started again proposes exactly what an
uninterrupted one would have, given the same record.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from admire_jax.bo import Optimizer, Recommendation
from admire_jax.bo.cost import LearnedCost
from admire_jax.data.weights import parse_weights
from admire_jax.experiment.config import LoadedExperiment
from admire_jax.experiment.spec import mix_seed
from admire_jax.experiment.store import OK, SEARCH, Trial


@dataclasses.dataclass(frozen=True)
class Observation:
    """A finished run as the optimiser sees it."""

    mixture: dict[str, float]
    rung: str
    value: float  # objective; NaN for failed / diverged runs
    cost: float | None  # in budget units


def observations(exp: LoadedExperiment, trials: Sequence[Trial]) -> list[Observation]:
    """Finished search trials, in id order, as observations."""
    out = []
    for t in trials:
        if t.role != SEARCH or not t.is_finished:
            continue
        value = exp.spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan
        out.append(Observation(t.mixture, t.rung, value, trial_cost(exp, t)))
    return out


def trial_cost(exp: LoadedExperiment, t: Trial) -> float | None:
    """What the trial would have cost without its restarts from zero, in budget units: what the
    optimiser's cost model is told, so a preemption does not make its rung look dearer."""
    flops = None if t.flops is None else t.flops - t.wasted_flops
    wall = None if t.wall_seconds is None else t.wall_seconds - t.wasted_wall_seconds
    return exp.spec.budget.measured_cost(flops, wall)


def round_seed(seed: int, num_recorded: int) -> int:
    """The optimiser seed after `num_recorded` recorded trials (of a proposal: its trial's id)."""
    return mix_seed(seed, num_recorded)


def build_optimizer(exp: LoadedExperiment, told: Sequence[Observation], num_recorded: int) -> Optimizer:
    """A fresh Optimizer with the experiment's settings (`exp.optimizer`) told `told` in order."""
    spec = exp.spec
    opt = Optimizer(
        domains=list(spec.domains),
        fidelities=exp.rung_costs,
        target=spec.target_rung,
        maximize=spec.objective.maximize,
        seed=round_seed(spec.seed, num_recorded),
        bounds=exp.bounds or None,
        cost_model=LearnedCost(),
        config=exp.optimizer,
    )
    for o in told:
        opt.tell(as_vector(o.mixture, spec.domains), o.rung, o.value, cost=o.cost)
    return opt


def as_vector(mixture: Mapping[str, float], domains: Sequence[str]) -> np.ndarray:
    """The mixture as weights [D] in the order of `domains`, through the one normalisation of the
    data layer (`parse_weights`: unknown names and bad weights are errors)."""
    return parse_weights(mixture, domains)


def as_mixture(w: np.ndarray, domains: Sequence[str]) -> dict[str, float]:
    return {d: float(x) for d, x in zip(domains, np.asarray(w))}


def initial_design(exp: LoadedExperiment) -> list[tuple[dict[str, float], str]]:
    """The first trials: `initial_trials` mixtures, each at every `initial_rungs` rung (default:
    the cheapest), cheapest rung first. A function of the seed only. Uniform comes first (when
    inside the bounds); with `initial_mixtures='leave_one_out'` then, for each domain, uniform over
    the others (those inside the bounds): the simplex-centroid screen of mixture experiments, which
    measures what each domain adds to an even mix before the GP has to guess it from scattered
    random draws; random draws within the bounds fill the rest."""
    spec = exp.spec
    if spec.initial.trials == 0:
        return []
    domains = list(spec.domains)
    uniform = np.full(len(domains), 1.0 / len(domains))
    lo = np.array([exp.bounds.get(d, (0.0, 1.0))[0] for d in domains])
    hi = np.array([exp.bounds.get(d, (0.0, 1.0))[1] for d in domains])
    inside = lambda w: np.all(w >= lo - 1e-12) and np.all(w <= hi + 1e-12)
    candidates = [uniform]
    if spec.initial.mixtures == "leave_one_out":
        candidates += [
            np.where(np.arange(len(domains)) == i, 0.0, 1.0 / (len(domains) - 1)) for i in range(len(domains))
        ]
    mixtures = [w for w in candidates if inside(w)][: spec.initial.trials]
    if len(mixtures) < spec.initial.trials:
        empty = build_optimizer(exp, [], num_recorded=0)  # no observations: ask() draws at random
        mixtures += [p.mixture for p in empty.ask(spec.initial.trials - len(mixtures))]
    rungs = [r.name for r in spec.ladder.rungs if r.name in spec.initial.rungs] or [spec.ladder.rungs[0].name]
    return [(as_mixture(w, domains), rung) for rung in rungs for w in mixtures]


def propose(
    exp: LoadedExperiment,
    warm: Sequence[Observation],
    trials: Sequence[Trial],
    n: int,
    next_id: int,
    confirm_from: int | None = None,
) -> list[tuple[dict, str, dict]]:
    """Up to `n` new search trials (mixture, rung, basis) after the recorded `trials`, the first of
    which gets id `next_id`: the initial design first; then BO, told the finished search trials and
    fantasising the unfinished ones; from search trial number `confirm_from` on, the confirmation
    trials (see `confirmations`). `basis` is what `replay` needs to compute the proposal again."""
    searched = [t for t in trials if t.role == SEARCH]
    if confirm_from is not None:
        done = len(searched) - confirm_from
        planned = confirmations(exp, warm, searched[:confirm_from])[done : done + n]
        return [(m, r, {"confirm_from": confirm_from, "index": done + i}) for i, (m, r) in enumerate(planned)]
    design = initial_design(exp) if not warm else []
    if len(searched) < len(design):
        first = len(searched)
        return [(m, r, {"design": first + i}) for i, (m, r) in enumerate(design[first : first + n])]
    basis = {
        "finished": [t.id for t in searched if t.is_finished],
        "pending": [t.id for t in searched if not t.is_finished],
        "trial_id": int(next_id),
    }
    return [(m, r, {**basis, "index": i}) for i, (m, r) in enumerate(_ask(exp, warm, trials, basis, n))]


def replay(
    exp: LoadedExperiment, warm: Sequence[Observation], trials: Sequence[Trial], basis: Mapping
) -> tuple[dict, str]:
    """The (mixture, rung) that the proposal with this `basis` gave, computed again from the trials
    it names (their recorded results), the experiment seed and the config."""
    searched = [t for t in trials if t.role == SEARCH]
    if "confirm_from" in basis:
        return confirmations(exp, warm, searched[: basis["confirm_from"]])[basis["index"]]
    if "design" in basis:
        return initial_design(exp)[basis["design"]]
    return _ask(exp, warm, trials, basis, basis["index"] + 1)[basis["index"]]


def _ask(
    exp: LoadedExperiment, warm: Sequence[Observation], trials: Sequence[Trial], basis: Mapping, n: int
) -> list[tuple[dict, str]]:
    by_id = {t.id: t for t in trials}
    told = list(warm) + observations(exp, [by_id[i] for i in basis["finished"]])
    opt = build_optimizer(exp, told, num_recorded=basis["trial_id"])
    opt.pending = [
        dict(mixture=as_vector(by_id[i].mixture, exp.spec.domains).tolist(), fidelity=by_id[i].rung)
        for i in basis["pending"]
    ]
    return [(as_mixture(p.mixture, exp.spec.domains), p.fidelity) for p in opt.ask(n)]


def confirmations(
    exp: LoadedExperiment, warm: Sequence[Observation], searched: Sequence[Trial]
) -> list[tuple[dict, str]]:
    """The confirmation phase that ends a search with `confirm_top` > 0: the `confirm_top`
    mixtures trained at the target rung with the best posterior means, each trained
    `confirm_seeds` more times (fresh seeds), before the recommendation. Why: where one trial's
    seed moves the objective as much as the mixture does, the best of many single-seed trials is
    mostly the luckiest draw (the winner's curse); repeats of the few contenders let the GP
    separate their means from their luck. A function of the search trials before the phase."""
    spec = exp.spec
    told = list(warm) + observations(exp, searched)
    candidates = target_mixtures(exp, told)
    if not num_confirmations(exp, candidates):
        return []
    mean, _ = build_optimizer(exp, told, num_recorded=len(searched)).predict(candidates, spec.target_rung)
    order = np.argsort(-np.asarray(mean) if spec.objective.maximize else np.asarray(mean), kind="stable")
    top = [as_mixture(candidates[i], spec.domains) for i in order[: spec.confirmation.top]]
    return [(mixture, spec.target_rung) for _ in range(spec.confirmation.seeds) for mixture in top]


def num_confirmations(exp: LoadedExperiment, candidates: np.ndarray | None) -> int:
    """How many trials `confirmations` returns, given the `target_mixtures` (no GP fit needed)."""
    return 0 if candidates is None else min(exp.spec.confirmation.top, len(candidates)) * exp.spec.confirmation.seeds


def recommend(
    exp: LoadedExperiment, warm: Sequence[Observation], trials: Sequence[Trial]
) -> tuple[Optimizer, Recommendation] | None:
    """The best (lowest, or highest when maximising) posterior-mean mixture at the target rung:
    anywhere within the bounds, or with `recommend_from='target_trials'` among the mixtures that
    were trained at the target rung (when there are any), so the recommendation never rests on an
    extrapolation into a corner of the simplex the target rung has not seen. None before any
    successful trial."""
    searched = [t for t in trials if t.role == SEARCH]
    told = list(warm) + observations(exp, searched)
    if not any(math.isfinite(o.value) for o in told):
        return None
    opt = build_optimizer(exp, told, num_recorded=len(searched))
    candidates = target_mixtures(exp, told)
    if exp.spec.confirmation.recommend_from == "target_trials" and candidates is not None:
        return opt, opt.recommend(candidates=candidates)
    return opt, opt.recommend()


def target_mixtures(exp: LoadedExperiment, told: Sequence[Observation]) -> np.ndarray | None:
    """The distinct mixtures with a finite objective at the target rung (rows), or None."""
    at_target = [
        as_vector(o.mixture, exp.spec.domains)
        for o in told
        if o.rung == exp.spec.target_rung and math.isfinite(o.value)
    ]
    return np.unique(np.array(at_target), axis=0) if at_target else None
