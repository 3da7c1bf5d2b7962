"""Trials as a runs table in the replay format, and warm-starting an experiment from one.

Columns: trial, status, `w:<domain>` (weights), `fidelity` (rung name), `cost` (budget units, as
an uninterrupted run: what the optimiser is told), `flops` and `wall_seconds` (all the trial's
starts), `loss:<domain>` (validation loss per scored domain), `score:<name>` (each
result.json score) and the experiment's objective, one row per finished search trial: `loss:objective`
when it is minimised, `score:objective` when maximised. `admire-jax replay --weights_prefix w:
--fidelity_col fidelity --cost_col cost --objective loss:objective` reads it (for a maximised one:
`--objective score:objective --maximize`).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from admire_jax.experiment.config import LoadedExperiment
from admire_jax.experiment.objective import SCORE, SpecError, split_objective_key
from admire_jax.experiment.proposals import Observation, trial_cost
from admire_jax.experiment.store import OK, SEARCH, Trial


def trials_table(exp: LoadedExperiment, trials: Sequence[Trial]) -> pd.DataFrame:
    rows = []
    loss_names = sorted({d for t in trials if t.losses for d in t.losses})
    score_names = sorted({d for t in trials if t.scores for d in t.scores})
    for t in trials:
        if t.role != SEARCH or not t.is_finished:
            continue
        row = {"trial": t.id, "status": t.status}
        row.update({f"w:{d}": float(t.mixture.get(d, 0.0)) for d in exp.spec.domains})
        row.update(
            fidelity=t.rung,
            cost=trial_cost(exp, t),
            flops=t.flops,
            wall_seconds=t.wall_seconds,
        )
        losses = t.losses or {}
        row.update({f"loss:{d}": _number(losses.get(d)) for d in loss_names})
        row.update({f"score:{d}": _number((t.scores or {}).get(d)) for d in score_names})
        row[objective_column(exp.spec)] = exp.spec.objective.value(losses, t.scores) if t.status == OK else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def objective_column(spec) -> str:
    return "score:objective" if spec.objective.maximize else "loss:objective"


def _column(key: str) -> str:
    """The table column of an objective key: 'score:NAME' as is, a domain as 'loss:DOMAIN'."""
    is_score, name = split_objective_key(key)
    return f"{SCORE}{name}" if is_score else f"loss:{name}"


def export_csv(exp: LoadedExperiment, trials: Sequence[Trial], path: str | Path) -> int:
    """Writes the table; returns the number of rows."""
    table = trials_table(exp, trials)
    table.to_csv(path, index=False)
    return len(table)


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_warm_start(exp: LoadedExperiment, path: str | Path) -> list[Observation]:
    """Rows of a runs table as observations; the table must match this experiment's domains and rungs."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read warm-start table {path}: {exc}") from None
    spec = exp.spec
    weight_cols = [c for c in table.columns if c.startswith("w:")]
    names = [c[2:] for c in weight_cols]
    if sorted(names) != sorted(spec.domains):
        raise SpecError(
            f"warm-start table {path}: weight columns {names} do not match the domains {list(spec.domains)}"
        )
    missing = [c for c in ["fidelity", "cost", *(_column(k) for k in spec.objective.weights)] if c not in table.columns]
    if missing:
        raise SpecError(f"warm-start table {path} lacks column(s) {missing}")
    rungs = spec.ladder.names
    unknown = sorted(set(table["fidelity"].astype(str)) - set(rungs))
    if unknown:
        raise SpecError(f"warm-start table {path}: fidelity value(s) {unknown} are not rungs {rungs}")
    out = []
    for i, row in table.iterrows():
        w = {d: float(row[f"w:{d}"]) for d in spec.domains}
        total = sum(w.values())
        if not (total > 0 and all(v >= 0 for v in w.values())):
            raise SpecError(f"warm-start table {path}, row {i}: weights must be >= 0 and not all 0")
        losses = {d: _number(row[f"loss:{d}"]) for d in spec.objective.loss_domains}
        scores = {n: _number(row[f"{SCORE}{n}"]) for n in spec.objective.score_names}
        cost = _number(row["cost"])
        out.append(
            Observation(
                {d: v / total for d, v in w.items()}, str(row["fidelity"]), spec.objective.value(losses, scores), cost
            )
        )
    return out


def _number(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
