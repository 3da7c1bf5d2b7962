"""Synthetic run tables with a known truth, for replays that measure search rather than luck.

A generated table has the replay's CSV format and a target rung whose noiseless response over D
domains is a mixing law (`bench.mixing_law`: per-domain saturating effects plus pairwise
interactions), standardised over the target rows' mixtures. Each cheaper rung k responds with

    cos(theta_k) * target + sin(theta_k) * discrepancy_k - RUNG_SHIFT * (rungs above k)

where discrepancy_k is an independent draw of the same family (standardised the same way) and
theta_k is chosen so that the Spearman correlation of rung k's and the target's noiseless values over
the target rows' mixtures is the requested one: `spearman` for the cheapest rung, and for the rungs
in between a linear step from it towards 1 (1:3:6 with 0.6: 0.6 and 0.8). Every row has its own
Dirichlet mixture. Observation noise is Gaussian with one sd on every rung, stated in units of the
gap between the best and the second-best noiseless target rows (noise 1 = that gap), so noise 1 can
reorder the best rows and noise 0 makes the table a noise-free lookup.

Each table stores the observed values (what the methods see) and, in a `_truth` column, the
noiseless ones (what `admire-jax replay --truth_col` scores against). A score is maximised, a loss
(LOSS_LEVEL minus the response) minimised. Costs are per row, the target's run costing 1.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from admire_jax.bench.mixing_law import MixingLaw, random_law

WEIGHTS_PREFIX = "w:"
FIDELITY_COL = "fidelity"
COST_COL = "cost"
TARGET_LABEL = "target"
SCORE_LEVEL, LOSS_LEVEL, SPREAD = 0.5, 3.0, 0.05  # value = level +/- SPREAD * standardised response
RUNG_SHIFT = 1.0  # each rung below the target is this many target sds worse
THETA_GRID = np.linspace(0.0, np.pi, 4001)
TOP_FRACTION = 0.1  # "top decile" of the target rows


class GeneratorError(ValueError):
    """The generator's parameters cannot make a table; the message names the problem."""


def replay_flag(name: str) -> str:
    """How `admire-jax replay` spells its option `name` ('truth_col' -> '--truth_col'): every replay
    flag this package's tools emit is spelled here."""
    return "--" + name


def replay_gin_args(gin_files: list[str], bindings: list[str]) -> list[str]:
    """The replay's arguments for gin files and 'NAME = VALUE' bindings (`--gin.NAME=VALUE`)."""
    files = [arg for f in gin_files for arg in (replay_flag("gin_file"), f)]
    return files + ["--gin." + "=".join(part.strip() for part in b.split("=", 1)) for b in bindings]


@dataclasses.dataclass(frozen=True)
class TableColumns:
    """How the replay reads a table: the column names and the target rung."""

    weights_prefix: str
    fidelity_col: str
    cost_col: str
    objective: str
    maximize: bool
    target_fidelity: str
    truth_col: str | None = None

    def replay_options(self, table_path: str) -> list[str]:
        """The replay's table options for a table with these columns."""
        options = [
            replay_flag("table"),
            table_path,
            replay_flag("weights_prefix"),
            self.weights_prefix,
            replay_flag("fidelity_col"),
            self.fidelity_col,
            replay_flag("cost_col"),
            self.cost_col,
            replay_flag("objective"),
            self.objective,
            replay_flag("target_fidelity"),
            self.target_fidelity,
            replay_flag("maximize" if self.maximize else "minimize"),
        ]
        return options + ([replay_flag("truth_col"), self.truth_col] if self.truth_col else [])


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """What to generate. `cost_ratio` and `rows` list the rungs cheapest first, the target last (one
    entry: a single-fidelity table). `concentration`: per-row Dirichlet concentration, drawn
    log-uniformly in this range (small = mixtures dominated by a few domains)."""

    domains: int = 19
    cost_ratio: tuple[float, ...] = (1.0, 3.0, 6.0)
    rows: tuple[int, ...] = (512, 256, 64)
    spearman: float = 0.6
    noise: float = 1.0
    maximize: bool = True
    seed: int = 0
    saturation: float = 0.1
    interaction_scale: float = 2.0
    concentration: tuple[float, float] = (0.1, 1.0)

    def validate(self) -> None:
        """GeneratorError naming the first parameter that cannot make a table."""
        ratio, rows = tuple(self.cost_ratio), tuple(self.rows)
        if self.domains < 2:
            raise GeneratorError(f"domains must be >= 2, got {self.domains}")
        if not ratio or len(ratio) != len(rows):
            raise GeneratorError(f"cost_ratio {list(ratio)} and rows {list(rows)} must list the same rungs")
        if any(not np.isfinite(c) or c <= 0 for c in ratio) or any(b <= a for a, b in itertools.pairwise(ratio)):
            raise GeneratorError(f"cost_ratio {list(ratio)} must be positive and strictly increasing (cheapest first)")
        if any(int(n) != n or n < 1 for n in rows) or rows[-1] < 2:
            raise GeneratorError(f"rows {list(rows)} must be positive integers, the target's >= 2")
        if not -1.0 <= self.spearman <= 1.0:
            raise GeneratorError(f"spearman must be in [-1, 1], got {self.spearman}")
        if not np.isfinite(self.noise) or self.noise < 0:
            raise GeneratorError(f"noise must be >= 0, got {self.noise}")
        if not self.saturation > 0 or not self.interaction_scale >= 0:
            raise GeneratorError("saturation must be > 0 and interaction_scale >= 0")
        low, high = self.concentration
        if not 0 < low <= high:
            raise GeneratorError(f"concentration {self.concentration} must be 0 < low <= high")

    @property
    def rung_labels(self) -> tuple[str, ...]:
        return tuple(f"rung{k}" for k in range(len(self.rows) - 1)) + (TARGET_LABEL,)

    @property
    def columns(self) -> TableColumns:
        objective = "score" if self.maximize else "loss"
        return TableColumns(
            WEIGHTS_PREFIX, FIDELITY_COL, COST_COL, objective, self.maximize, TARGET_LABEL, f"{objective}_truth"
        )

    def requested_spearman(self) -> list[float]:
        """The Spearman each cheap rung is made to reach (cheapest first)."""
        cheap = len(self.rows) - 1
        return [self.spearman + (1.0 - self.spearman) * k / cheap for k in range(cheap)]


def _mixtures(n: int, spec: GeneratorSpec, rng: np.random.Generator) -> np.ndarray:
    low, high = spec.concentration
    alpha_N = np.exp(rng.uniform(np.log(low), np.log(high), size=n))
    mixtures_NxD = np.stack([rng.dirichlet(np.full(spec.domains, a)) for a in alpha_N])
    return np.round(mixtures_NxD / mixtures_NxD.sum(axis=1, keepdims=True), 12)


Response = Callable[[np.ndarray], np.ndarray]  # mixtures N x D -> values N


def _standardiser(law: MixingLaw, reference_TxD: np.ndarray) -> Response:
    """The law rescaled to mean 0 and sd 1 over the reference mixtures."""
    values_T = law(reference_TxD)
    mean, sd = float(values_T.mean()), float(values_T.std()) or 1.0
    return lambda mixtures_NxD: (law(mixtures_NxD) - mean) / sd


def _theta_for(target_T: np.ndarray, discrepancy_T: np.ndarray, spearman: float) -> tuple[float, float]:
    """(theta, achieved Spearman): the mixing angle whose Spearman with the target is closest to the
    requested one (the smallest such angle)."""
    blends_GxT = np.cos(THETA_GRID)[:, None] * target_T + np.sin(THETA_GRID)[:, None] * discrepancy_T
    ranks_GxT = stats.rankdata(blends_GxT, axis=1)
    ranks_GxT -= ranks_GxT.mean(axis=1, keepdims=True)
    target_ranks_T = stats.rankdata(target_T) - (target_T.size + 1) / 2
    rho_G = ranks_GxT @ target_ranks_T / (np.linalg.norm(ranks_GxT, axis=1) * np.linalg.norm(target_ranks_T))
    index = int(np.argmin(np.abs(rho_G - spearman)))
    return float(THETA_GRID[index]), float(rho_G[index])


def _blend(theta: float, target: Response, discrepancy: Response, mixtures_NxD: np.ndarray) -> np.ndarray:
    """A cheap rung's response before its shift: the target and its discrepancy mixed at angle theta."""
    return np.cos(theta) * target(mixtures_NxD) + np.sin(theta) * discrepancy(mixtures_NxD)


def top_agreement(target_T: np.ndarray, cheap_T: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Share of the top `fraction` of rows by `target_T` that are also in the top by `cheap_T` (higher = better)."""
    top = max(1, int(np.ceil(fraction * target_T.size)))
    return len(set(np.argsort(-target_T)[:top]) & set(np.argsort(-cheap_T)[:top])) / top


def generate_table(spec: GeneratorSpec) -> tuple[pd.DataFrame, dict]:
    """The table (one row per run) and its sidecar: the parameters, the column mapping, and per rung
    the achieved Spearman, top-decile agreement and noise."""
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    rungs = len(spec.rows)
    mixtures = [_mixtures(int(n), spec, rng) for n in spec.rows]
    target_TxD = mixtures[-1]
    target = _standardiser(random_law(spec.domains, spec.saturation, spec.interaction_scale, rng), target_TxD)
    target_T = target(target_TxD)
    ordered_T = np.sort(target_T)
    gap_q = float(ordered_T[-1] - ordered_T[-2])  # in standardised response units
    if gap_q <= 0 and spec.noise > 0:
        raise GeneratorError("the two best target rows tie, so noise in units of their gap is undefined")
    noise_sd = spec.noise * gap_q * SPREAD
    sign, level = (1.0, SCORE_LEVEL) if spec.maximize else (-1.0, LOSS_LEVEL)
    columns = spec.columns
    frames, rung_info = [], []
    requested = spec.requested_spearman() + [None]
    for k, (label, n, mixtures_NxD) in enumerate(zip(spec.rung_labels, spec.rows, mixtures)):
        info: dict = {"label": label, "cost": spec.cost_ratio[k] / spec.cost_ratio[-1], "rows": int(n)}
        if k == rungs - 1:
            response_N = target(mixtures_NxD)
        else:
            discrepancy = _standardiser(
                random_law(spec.domains, spec.saturation, spec.interaction_scale, rng), target_TxD
            )
            theta, achieved = _theta_for(target_T, discrepancy(target_TxD), requested[k])
            response_N = _blend(theta, target, discrepancy, mixtures_NxD) - RUNG_SHIFT * (rungs - 1 - k)
            info.update(
                requested_spearman=requested[k],
                spearman=achieved,
                theta=theta,
                top_decile_agreement=top_agreement(target_T, _blend(theta, target, discrepancy, target_TxD)),
            )
        truth_N = level + sign * SPREAD * response_N
        observed_N = truth_N + noise_sd * rng.standard_normal(truth_N.size)  # drawn at any noise: same stream
        info["noise"] = float(np.std(observed_N - truth_N) / (gap_q * SPREAD)) if gap_q > 0 else 0.0
        rung_info.append(info)
        frame = pd.DataFrame(mixtures_NxD, columns=[f"{WEIGHTS_PREFIX}d{j:02d}" for j in range(spec.domains)])
        frame.insert(0, FIDELITY_COL, label)
        frame.insert(0, "run", [f"{label}-{i}" for i in range(int(n))])
        frame[COST_COL] = info["cost"]
        frame[columns.objective] = observed_N
        frame[columns.truth_col] = truth_N
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    errors = table[columns.objective] - table[columns.truth_col]
    sidecar = {
        "generator": dataclasses.asdict(spec),
        "columns": dataclasses.asdict(columns),
        "rungs": rung_info,
        "gap": gap_q * SPREAD,
        "noise_sd": noise_sd,
        "noise_achieved": float(errors.std(ddof=0) / (gap_q * SPREAD)) if gap_q > 0 else 0.0,
        "spearman": rung_info[0].get("spearman"),
        "top_decile_agreement": rung_info[0].get("top_decile_agreement"),
    }
    return table, sidecar


def sidecar_path(table_path: str) -> str:
    """Where the sidecar of `table_path` goes: the same name with `.json` for its extension."""
    return os.path.splitext(table_path)[0] + ".json"


def write_table(path: str, spec: GeneratorSpec) -> dict:
    """Generate the table of `spec`, write it as CSV at `path` and its sidecar beside it; return the sidecar."""
    table, sidecar = generate_table(spec)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    table.to_csv(path, index=False, float_format="%.10g")
    with open(sidecar_path(path), "w", encoding="utf-8") as f:
        json.dump(sidecar, f, indent=1)
    return sidecar
