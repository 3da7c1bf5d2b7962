"""A table of finished runs, mapped onto (mixture, fidelity, cost, objective) by the user's options.

Nothing about column names is assumed: the caller names the weight prefix, the fidelity column,
the objective column(s) and where costs come from. Every problem with the table raises
`TableError` (a ValueError) with a message naming the problem, so the CLI can report it cleanly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

WEIGHT_SUM_TOLERANCE = 1e-2  # published tables round weights (RegMix: 3 decimals)


class TableError(ValueError):
    """The table or its column mapping cannot be used; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """How to read a run table: which columns hold what."""

    weights_prefix: str
    fidelity_col: str
    objectives: tuple[str, ...]
    target_fidelity: str
    maximize: bool = False
    cost_col: str | None = None
    fidelity_costs: Mapping[str, float] | None = None  # declared cost per run of each rung
    fidelity_order: tuple[str, ...] | None = None  # cheapest first; default: by median row cost
    truth_cols: tuple[str, ...] = ()  # per objective: the noiseless values it is scored on (none: itself)


@dataclasses.dataclass(frozen=True)
class ReplayTask:
    """One objective of one table, ready to replay. Rows with a NaN objective are already dropped.

    `fidelity_of_R` holds rung indices into `rungs` (cheapest first); `declared_costs` is None when
    the methods must plan with the running mean of the costs they have paid.
    """

    path: str
    objective: str
    maximize: bool
    domains: tuple[str, ...]
    rungs: tuple[str, ...]
    target: str
    mixtures_RxD: np.ndarray
    fidelity_of_R: np.ndarray
    cost_R: np.ndarray
    value_R: np.ndarray
    row_id_R: np.ndarray  # row number in the original table
    declared_costs: dict[str, float] | None
    median_costs: dict[str, float]  # per-rung median row cost (what orders the rungs)
    skipped_nan_rows: int
    truth_col: str | None = None
    truth_R: np.ndarray | None = None  # what regret is scored on; methods see value_R only

    @property
    def scored_R(self) -> np.ndarray:
        return self.value_R if self.truth_R is None else self.truth_R

    @property
    def target_index(self) -> int:
        return self.rungs.index(self.target)

    @property
    def target_rows(self) -> np.ndarray:
        return np.flatnonzero(self.fidelity_of_R == self.target_index)

    @property
    def best_target_value(self) -> float:
        values = self.scored_R[self.target_rows]
        return float(values.max() if self.maximize else values.min())

    def regret(self, row: int) -> float:
        """|best target value - value of `row`|, both by the truth column if there is one: 0 exactly
        when `row` is a best target row."""
        return float(abs(self.best_target_value - self.scored_R[row]))


def parse_fidelity_costs(text: str) -> dict[str, float]:
    """'1M=0.001,60M=0.06,1B=1' -> {'1M': 0.001, '60M': 0.06, '1B': 1.0}."""
    costs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, value = item.rpartition("=")
        try:
            cost = float(value)
        except ValueError:
            cost = float("nan")
        if not sep or not label or not np.isfinite(cost) or cost <= 0:
            raise TableError(f"--fidelity_costs: {item!r} is not LABEL=POSITIVE_NUMBER")
        costs[label.strip()] = cost
    if not costs:
        raise TableError("--fidelity_costs is empty")
    return costs


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TableError(f"{what}: column(s) {missing} not in the table (columns: {list(frame.columns)})")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[column], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as error:
        raise TableError(f"column {column!r} is not numeric: {error}") from None


def _weights(frame: pd.DataFrame, prefix: str) -> tuple[tuple[str, ...], np.ndarray]:
    columns = [c for c in frame.columns if str(c).startswith(prefix)]
    if len(columns) < 2:
        raise TableError(f"--weights_prefix {prefix!r} matches {len(columns)} column(s); a mixture needs >= 2")
    weights_RxD = np.stack([_numeric(frame, c) for c in columns], axis=1)
    bad = np.flatnonzero(~np.isfinite(weights_RxD).all(axis=1) | (weights_RxD < 0).any(axis=1))
    if bad.size:
        raise TableError(f"weights are NaN or negative in table row(s) {bad[:10].tolist()}")
    sums_R = weights_RxD.sum(axis=1)
    off = np.flatnonzero(np.abs(sums_R - 1.0) > WEIGHT_SUM_TOLERANCE)
    if off.size:
        raise TableError(
            f"weights do not sum to 1 (within {WEIGHT_SUM_TOLERANCE}) in table row(s) {off[:10].tolist()}"
            f" (sums {np.round(sums_R[off[:10]], 4).tolist()})"
        )
    domains = tuple(str(c)[len(prefix) :] for c in columns)
    return domains, weights_RxD / sums_R[:, None]


def _row_costs(frame: pd.DataFrame, spec: TableSpec, labels_R: np.ndarray) -> np.ndarray:
    if spec.cost_col is not None:
        cost_R = _numeric(frame, spec.cost_col)
        bad = np.flatnonzero(~np.isfinite(cost_R) | (cost_R <= 0))
        if bad.size:
            raise TableError(
                f"cost column {spec.cost_col!r} is missing, zero or negative in row(s) {bad[:10].tolist()}"
            )
        return cost_R
    if spec.fidelity_costs is None:
        raise TableError("give per-row costs (--cost_col) or per-fidelity costs (--fidelity_costs)")
    missing = sorted(set(labels_R) - set(spec.fidelity_costs))
    if missing:
        raise TableError(f"--fidelity_costs has no cost for fidelity label(s) {missing}")
    return np.array([spec.fidelity_costs[label] for label in labels_R], np.float64)


def _order_rungs(spec: TableSpec, labels: list[str], median_costs: dict[str, float]) -> tuple[str, ...]:
    if spec.fidelity_order is None:
        return tuple(sorted(labels, key=lambda label: (median_costs[label], label)))
    order = tuple(spec.fidelity_order)
    if sorted(order) != sorted(labels):
        raise TableError(f"--fidelity_order {list(order)} must list exactly the table's fidelities {sorted(labels)}")
    return order


def load_tasks(path: str, spec: TableSpec) -> list[ReplayTask]:
    """Read `path` and return one ReplayTask per objective in `spec.objectives`."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise TableError(f"table {path!r} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise TableError(f"table {path!r} cannot be read as CSV: {error}") from None
    if not spec.objectives:
        raise TableError("give at least one --objective column")
    _require_columns(frame, [spec.fidelity_col], "--fidelity_col")
    _require_columns(frame, list(spec.objectives), "--objective")
    if spec.cost_col is not None:
        _require_columns(frame, [spec.cost_col], "--cost_col")
    if spec.truth_cols and len(spec.truth_cols) != len(spec.objectives):
        raise TableError(f"give one --truth_col per --objective ({len(spec.truth_cols)} for {len(spec.objectives)})")
    _require_columns(frame, list(spec.truth_cols), "--truth_col")
    domains, mixtures_RxD = _weights(frame, spec.weights_prefix)
    if frame[spec.fidelity_col].isna().any():
        raise TableError(f"fidelity column {spec.fidelity_col!r} is empty in some rows")
    labels_R = frame[spec.fidelity_col].astype(str).to_numpy()
    labels = sorted(set(labels_R))
    if spec.target_fidelity not in labels:
        raise TableError(f"target fidelity {spec.target_fidelity!r} has no rows (fidelities in table: {labels})")
    cost_R = _row_costs(frame, spec, labels_R)
    median_costs = {label: float(np.median(cost_R[labels_R == label])) for label in labels}
    rungs = _order_rungs(spec, labels, median_costs)
    fidelity_of_R = np.array([rungs.index(label) for label in labels_R], np.int64)
    declared = (
        None
        if spec.fidelity_costs is None
        else {r: float(spec.fidelity_costs[r]) for r in rungs if r in spec.fidelity_costs}
    )
    if declared is not None and set(declared) != set(rungs):
        raise TableError(f"--fidelity_costs has no cost for fidelity label(s) {sorted(set(rungs) - set(declared))}")
    tasks = []
    truth_cols = spec.truth_cols or (None,) * len(spec.objectives)
    for objective, truth_col in zip(spec.objectives, truth_cols):
        value_R = _numeric(frame, objective)
        keep_R = np.isfinite(value_R)
        is_target_R = fidelity_of_R == rungs.index(spec.target_fidelity)
        if not keep_R[is_target_R].any():
            raise TableError(f"objective {objective!r} has no finite value at target fidelity {spec.target_fidelity!r}")
        truth_R = None if truth_col is None else _numeric(frame, truth_col)
        if truth_R is not None and not np.isfinite(truth_R[keep_R & is_target_R]).all():
            raise TableError(f"truth column {truth_col!r} is not finite in every target row of {objective!r}")
        tasks.append(
            ReplayTask(
                path=str(path),
                objective=objective,
                maximize=spec.maximize,
                domains=domains,
                rungs=rungs,
                target=spec.target_fidelity,
                mixtures_RxD=mixtures_RxD[keep_R],
                fidelity_of_R=fidelity_of_R[keep_R],
                cost_R=cost_R[keep_R],
                value_R=value_R[keep_R],
                row_id_R=np.flatnonzero(keep_R),
                declared_costs=declared,
                median_costs=median_costs,
                skipped_nan_rows=int((~keep_R).sum()),
                truth_col=truth_col,
                truth_R=None if truth_R is None else truth_R[keep_R],
            )
        )
    return tasks
