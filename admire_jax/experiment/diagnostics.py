"""How far to trust the model: leave-one-out calibration and rank agreement between rungs."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from scipy import stats

from admire_jax.experiment import proposals
from admire_jax.experiment.config import LoadedExperiment
from admire_jax.experiment.proposals import Observation
from admire_jax.experiment.store import OK, SEARCH, Trial

Z90 = 1.6448536269514722  # two-sided 90% interval of a normal
MAX_LOO = 40  # leave-one-out refits the GP once per point; the last MAX_LOO trials


def leave_one_out(exp: LoadedExperiment, warm: Sequence[Observation], trials: Sequence[Trial]) -> dict:
    """For each successful search trial: the GP refitted without it predicts it. Returns rungs,
    observed, predicted mean and sd, and how many observed values fall in the 90% interval."""
    searched = [t for t in trials if t.role == SEARCH]
    obs = list(warm) + proposals.observations(exp, searched)
    scored = [i for i, o in enumerate(obs) if math.isfinite(o.value)][-MAX_LOO:]
    rows = dict(rung=[], observed=[], mean=[], std=[])
    for i in scored:
        rest = obs[:i] + obs[i + 1 :]
        if not any(math.isfinite(o.value) for o in rest):
            continue
        opt = proposals.build_optimizer(exp, rest, num_recorded=len(searched))
        mean, std = opt.predict(proposals.as_vector(obs[i].mixture, exp.spec.domains)[None], obs[i].rung)
        rows["rung"].append(obs[i].rung)
        rows["observed"].append(obs[i].value)
        rows["mean"].append(float(mean[0]))
        rows["std"].append(float(std[0]))
    inside = sum(abs(y - m) <= Z90 * s for y, m, s in zip(rows["observed"], rows["mean"], rows["std"]))
    return {**rows, "n": len(rows["observed"]), "inside": int(inside)}


def shared_mixtures(spec, trials: Sequence[Trial]) -> dict[str, dict[tuple, float]]:
    """rung -> {mixture key: mean objective over its successful trials (search and check)}."""
    sums: dict[str, dict[tuple, list[float]]] = {}
    for t in trials:
        if t.status != OK:
            continue
        value = spec.objective.value(t.losses, t.scores)
        if math.isfinite(value):
            key = tuple(round(float(t.mixture.get(d, 0.0)), 4) for d in spec.domains)
            sums.setdefault(t.rung, {}).setdefault(key, []).append(value)
    return {r: {k: float(np.mean(v)) for k, v in by.items()} for r, by in sums.items()}


def rung_rank_correlations(spec, trials: Sequence[Trial]) -> dict[tuple[str, str], tuple[float, int]]:
    """(cheaper rung, dearer rung) -> (Spearman rho, number of shared mixtures); rho is NaN below 3."""
    by_rung = shared_mixtures(spec, trials)
    out = {}
    for a, b in itertools.combinations(spec.ladder.names, 2):
        keys = sorted(set(by_rung.get(a, {})) & set(by_rung.get(b, {})))
        rho = math.nan
        if len(keys) >= 3:
            rho = float(stats.spearmanr([by_rung[a][k] for k in keys], [by_rung[b][k] for k in keys])[0])
        out[(a, b)] = (rho, len(keys))
    return out
