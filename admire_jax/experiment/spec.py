"""The experiment spec: what to search, what to score, which rungs, how much to spend.

One gin file binds `experiment.*` (see configs/experiments/demo.gin). `load_spec` parses it,
checks every name against what exists (domains, presets, rungs, budget) and returns a plain,
frozen `ExperimentSpec`, so bad input fails here, before any training starts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any, Mapping, Sequence

import gin

BUDGET_UNITS = ("flops", "device_hours", "wall_seconds")
# may change when an experiment is continued (they decide when to stop, not what is proposed)
RESUMABLE = ("budget", "max_trials", "check_seeds")


class SpecError(ValueError):
    """The experiment config cannot be run; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class Rung:
    """One fidelity: a model preset trained for `tokens` tokens (plus extra gin bindings)."""

    name: str
    preset: str
    tokens: int
    bindings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """Everything that decides which trials run and how they are scored (the executor aside)."""

    domains: tuple[str, ...]
    objective: dict[str, float]            # val-loss domain -> weight (normalised to sum 1)
    rungs: tuple[Rung, ...]                # cheapest first
    target_rung: str
    budget: float
    budget_unit: str
    q: int = 1
    seed: int = 0
    initial_trials: int = 3
    initial_rungs: tuple[str, ...] = ()    # rungs of the initial design (default: the cheapest)
    max_trials: int | None = None
    bounds: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    max_epochs: float | None = None
    trial_bindings: tuple[str, ...] = ()   # gin bindings given to every trial
    max_bytes: int = 4_000_000             # built-in corpus size per domain, for trials and token counts
    devices_per_trial: int = 1             # for device-hour budgets
    assumed_flops_per_second: float = 2e9  # declared time cost of a rung before any is measured
    trainer: str = "admire_jax.train.cli:main"
    check_seeds: int = 0                   # >0: train recommended and uniform at the target with that many seeds
    warm_start: str | None = None          # runs table (export format) told before the first proposal

    def rung(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise SpecError(f"unknown rung {name!r}; rungs: {[r.name for r in self.rungs]}")

    def objective_value(self, losses: Mapping[str, float | None] | None) -> float:
        """Weighted validation loss; NaN when any scored domain is missing or not finite."""
        if not losses:
            return math.nan
        total = 0.0
        for d, w in self.objective.items():
            v = losses.get(d)
            if v is None or not math.isfinite(v):
                return math.nan
            total += w * float(v)
        return total

    def fingerprint(self) -> str:
        """Hash of everything that decides proposals (stored in the experiment directory)."""
        identity = {k: v for k, v in dataclasses.asdict(self).items() if k not in RESUMABLE}
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@gin.configurable
def experiment(
    domains: Sequence[str] = gin.REQUIRED,
    objective: str | Mapping[str, float] = gin.REQUIRED,
    rungs: Mapping[str, Sequence[Any]] = gin.REQUIRED,
    target_rung: str = gin.REQUIRED,
    budget: float = gin.REQUIRED,
    budget_unit: str = "flops",
    **options: Any,
) -> ExperimentSpec:
    """The spec as bound in gin. `rungs` maps a name to (preset, train tokens[, [gin bindings]]);
    `objective` is one validation domain or {domain: weight}; other fields: see ExperimentSpec."""
    parsed = []
    for name, value in dict(rungs).items():
        value = list(value)
        if len(value) not in (2, 3):
            raise SpecError(f"rung {name!r}: expected (preset, tokens[, bindings]), got {value!r}")
        extra = tuple(value[2]) if len(value) == 3 else ()
        parsed.append(Rung(str(name), str(value[0]), int(value[1]), extra))
    objective = {objective: 1.0} if isinstance(objective, str) else {str(k): float(v) for k, v in dict(objective).items()}
    total = sum(objective.values())
    if total > 0:  # a weighted mean; bad weights are reported by check_spec
        objective = {k: v / total for k, v in objective.items()}
    bounds = {k: (float(a), float(b)) for k, (a, b) in dict(options.pop("bounds", None) or {}).items()}
    for key in ("trial_bindings", "initial_rungs"):
        if key in options:
            options[key] = tuple(options[key])
    known = {f.name for f in dataclasses.fields(ExperimentSpec)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SpecError(f"unknown experiment option(s) {unknown} (a typo?); known: {sorted(known - {'bounds'})}")
    return ExperimentSpec(domains=tuple(domains), objective=objective, rungs=tuple(parsed),
                          target_rung=str(target_rung), budget=float(budget), budget_unit=str(budget_unit),
                          bounds=bounds, **options)


def check_spec(spec: ExperimentSpec, scored_domains: Sequence[str], train_domains: Sequence[str],
               known_presets: Sequence[str]) -> None:
    """Raises SpecError for anything that cannot run: unknown names, bad numbers, empty search space."""
    if len(spec.domains) < 2 or len(set(spec.domains)) != len(spec.domains):
        raise SpecError(f"experiment.domains must name at least 2 distinct domains, got {list(spec.domains)}")
    unknown = [d for d in spec.domains if d not in train_domains]
    if unknown:
        raise SpecError(f"unknown training domain(s) {unknown}; known: {list(train_domains)}")
    unknown = [d for d in spec.objective if d not in scored_domains]
    if unknown:
        raise SpecError(f"objective names unknown domain(s) {unknown}; scored domains: {list(scored_domains)}")
    if not spec.objective or any(not (w > 0 and math.isfinite(w)) for w in spec.objective.values()):
        raise SpecError(f"objective weights must be positive, got {spec.objective}")
    if not spec.rungs:
        raise SpecError("experiment.rungs is empty")
    names = [r.name for r in spec.rungs]
    if len(set(names)) != len(names):
        raise SpecError(f"rung names must be distinct, got {names}")
    for r in spec.rungs:
        if r.preset not in known_presets:
            raise SpecError(f"rung {r.name!r}: unknown preset {r.preset!r}; known presets: {sorted(known_presets)}")
        if r.tokens < 1:
            raise SpecError(f"rung {r.name!r}: tokens must be >= 1, got {r.tokens}")
    if spec.target_rung not in names:
        raise SpecError(f"target_rung {spec.target_rung!r} is not a rung; rungs: {names}")
    if spec.budget_unit not in BUDGET_UNITS:
        raise SpecError(f"budget_unit must be one of {BUDGET_UNITS}, got {spec.budget_unit!r}")
    if not (spec.budget > 0 and math.isfinite(spec.budget)):
        raise SpecError(f"budget must be positive, got {spec.budget}")
    if spec.q < 1 or spec.initial_trials < 0 or spec.check_seeds < 0 or spec.devices_per_trial < 1:
        raise SpecError("q and devices_per_trial must be >= 1; initial_trials and check_seeds >= 0")
    if spec.max_epochs is not None and not spec.max_epochs > 0:
        raise SpecError(f"max_epochs must be positive, got {spec.max_epochs}")
    unknown = [d for d in spec.bounds if d not in spec.domains]
    if unknown:
        raise SpecError(f"bounds name unknown domain(s) {unknown}; domains: {list(spec.domains)}")
    unknown = [r for r in spec.initial_rungs if r not in names]
    if unknown:
        raise SpecError(f"initial_rungs names unknown rung(s) {unknown}; rungs: {names}")
    if ":" not in spec.trainer:
        raise SpecError(f"trainer must be 'module:function', got {spec.trainer!r}")


def epoch_bounds(spec: ExperimentSpec, tokens_per_domain: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """The bounds with w_i <= max_epochs * tokens_i / target_tokens folded in (so a recommendation
    never repeats a small domain more than `max_epochs` times at the target rung's budget)."""
    bounds = {d: spec.bounds.get(d, (0.0, 1.0)) for d in spec.domains}
    if spec.max_epochs is None:
        return {d: b for d, b in bounds.items() if b != (0.0, 1.0)}
    target_tokens = spec.rung(spec.target_rung).tokens
    for d in spec.domains:
        lo, hi = bounds[d]
        bounds[d] = (lo, min(hi, spec.max_epochs * tokens_per_domain[d] / target_tokens))
    if sum(hi for _, hi in bounds.values()) < 1.0:
        raise SpecError(
            f"max_epochs={spec.max_epochs} leaves no mixture: the domains hold {dict(tokens_per_domain)} tokens, "
            f"fewer than the target rung's {target_tokens} even when each is repeated {spec.max_epochs} times")
    lows = sum(lo for lo, _ in bounds.values())
    if any(lo > hi for lo, hi in bounds.values()) or lows > 1.0:
        raise SpecError(f"bounds leave no mixture summing to 1: {bounds}")
    return {d: b for d, b in bounds.items() if b != (0.0, 1.0)}
