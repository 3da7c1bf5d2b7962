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
import os
import re
from typing import Any, Mapping, Sequence

import gin

BUDGET_UNITS = ("flops", "device_hours", "wall_seconds")
SCORE = "score:"  # objective keys with this prefix name result.json "scores"; others validation losses
RUNG_KEYS = ("preset", "tokens", "bindings", "checkpoint")
# may change when an experiment is continued (they decide when to stop, not what is proposed)
RESUMABLE = ("budget", "max_trials", "check_seeds")
# fields added after experiments were first stored, with their defaults: left out of the
# fingerprint while at the default, so those experiments can still be continued
LATER_FIELDS = {"maximize": False, "sources": {}, "trial_imports": (), "checkpoint": None,
                "seed_per_trial": False, "recommend_from": "anywhere", "initial_mixtures": "random",
                "confirm_top": 0, "confirm_seeds": 1}
RECOMMEND_FROM = ("anywhere", "target_trials")
INITIAL_MIXTURES = ("random", "leave_one_out")
SEARCH_SEED_OFFSET = 1000  # search-trial seeds start here, apart from the check's seeds 0, 1, ...


class SpecError(ValueError):
    """The experiment config cannot be run; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class Rung:
    """One fidelity: a model preset trained for `tokens` tokens (plus extra gin bindings); with a
    `checkpoint` (Hugging Face folder) the model starts from it and takes its architecture, the
    preset then supplies only the numerics (dtype, learning rate, batch, sequence length)."""

    name: str
    preset: str
    tokens: int
    bindings: tuple[str, ...] = ()
    checkpoint: str | None = None


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """Everything that decides which trials run and how they are scored (the executor aside)."""

    domains: tuple[str, ...]
    objective: dict[str, float]            # val-loss domain or 'score:NAME' -> weight (normalised to sum 1)
    rungs: tuple[Rung, ...]                # cheapest first
    target_rung: str
    budget: float
    budget_unit: str
    q: int = 1
    seed: int = 0
    initial_trials: int = 3
    initial_rungs: tuple[str, ...] = ()    # rungs of the initial design (default: the cheapest)
    initial_mixtures: str = "random"       # after uniform: 'random' draws, or 'leave_one_out' (see proposals)
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
    maximize: bool = False                 # True: higher objective is better (scores such as accuracy)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # instruction JSONL per domain
    trial_imports: tuple[str, ...] = ()    # modules each trial imports first (gin registrations)
    seed_per_trial: bool = False           # True: search trial n trains with search_seed(seed, n), else with seed
    recommend_from: str = "anywhere"       # 'anywhere' in the bounds, or among 'target_trials' mixtures
    confirm_top: int = 0                   # >0: the search ends by re-training its best target mixtures (see proposals)
    confirm_seeds: int = 1                 # ... each with this many more seeds

    def confirmation_trials(self) -> int:
        """How many trials the confirmation phase adds at most (they are paid from the budget)."""
        return self.confirm_top * self.confirm_seeds

    def rung(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise SpecError(f"unknown rung {name!r}; rungs: {[r.name for r in self.rungs]}")

    @property
    def score_names(self) -> list[str]:
        """Names of the result.json scores the objective reads."""
        return [k[len(SCORE):] for k in self.objective if k.startswith(SCORE)]

    @property
    def loss_domains(self) -> list[str]:
        """Domains whose validation loss the objective reads."""
        return [k for k in self.objective if not k.startswith(SCORE)]

    def objective_value(self, losses: Mapping[str, float | None] | None,
                        scores: Mapping[str, float | None] | None = None) -> float:
        """Weighted sum of validation losses and scores; NaN when any part is missing or not finite."""
        total = 0.0
        for key, w in self.objective.items():
            is_score, name = split_objective_key(key)
            v = ((scores if is_score else losses) or {}).get(name)
            if v is None or not math.isfinite(v):
                return math.nan
            total += w * float(v)
        return total

    def search_seed(self, n: int) -> int:
        """Training seed of the search trial recorded after `n` others: `seed` itself, or with
        seed_per_trial a seed of its own (>= SEARCH_SEED_OFFSET, so never a check seed), so that
        seed-to-seed variation reaches the optimiser as noise, not as a bias shared by all trials."""
        if not self.seed_per_trial:
            return self.seed
        return SEARCH_SEED_OFFSET + (int(self.seed) * 1_000_003 + int(n)) % (2**31 - 1 - SEARCH_SEED_OFFSET)

    def describe_objective(self) -> str:
        """E.g. 'score:exact_match (maximised)' or '0.5 × a + 0.5 × b (minimised)'."""
        parts = [f"{w:g} × {k}" if w != 1 else k for k, w in self.objective.items()]
        return f"{' + '.join(parts)} ({'maximised' if self.maximize else 'minimised'})"

    def fingerprint(self) -> str:
        """Hash of everything that decides proposals (stored in the experiment directory)."""
        identity = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in RESUMABLE and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
        identity["rungs"] = [{k: v for k, v in r.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
                             for r in identity["rungs"]]
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_objective_key(key: str) -> tuple[bool, str]:
    """(is it a score, its name): 'score:NAME' -> (True, NAME), a domain -> (False, domain)."""
    return (True, key[len(SCORE):]) if key.startswith(SCORE) else (False, key)


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
    """The spec as bound in gin. `rungs` maps a name to (preset, train tokens[, [gin bindings]]) or
    to {'preset':, 'tokens':, 'checkpoint':, 'bindings':}; `objective` is one key or {key: weight},
    a key being a validation domain or 'score:NAME' (a score the trials write to result.json).
    `maximize` defaults to False for losses, True for scores (a mix must set it). `sources`
    ({domain: JSONL file or folder}) makes the domains instruction sources; relative paths are
    taken from the current directory. Other fields: see ExperimentSpec."""
    parsed = [_rung(str(name), value) for name, value in dict(rungs).items()]
    objective = {objective: 1.0} if isinstance(objective, str) else {str(k): float(v) for k, v in dict(objective).items()}
    total = sum(objective.values())
    if total > 0:  # a weighted mean; bad weights are reported by check_spec
        objective = {k: v / total for k, v in objective.items()}
    if options.get("maximize") is None:
        kinds = {k.startswith(SCORE) for k in objective}
        if len(kinds) > 1:
            raise SpecError(f"objective {objective} mixes losses and scores: set experiment.maximize")
        options["maximize"] = kinds == {True}
    options["maximize"] = bool(options["maximize"])
    options["sources"] = {str(k): os.path.abspath(os.path.expanduser(str(v)))
                          for k, v in dict(options.get("sources") or {}).items()}
    bounds = {k: (float(a), float(b)) for k, (a, b) in dict(options.pop("bounds", None) or {}).items()}
    for key in ("trial_bindings", "initial_rungs", "trial_imports"):
        if key in options:
            options[key] = tuple(options[key])
    options["trial_bindings"] = tuple(expand_macros(b) for b in options.get("trial_bindings", ()))
    known = {f.name for f in dataclasses.fields(ExperimentSpec)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SpecError(f"unknown experiment option(s) {unknown} (a typo?); known: {sorted(known - {'bounds'})}")
    return ExperimentSpec(domains=tuple(domains), objective=objective, rungs=tuple(parsed),
                          target_rung=str(target_rung), budget=float(budget), budget_unit=str(budget_unit),
                          bounds=bounds, **options)


def expand_macros(binding: str) -> str:
    """A trial binding with each `%NAME` that the experiment file defines replaced by its value
    (trials do not read that file); a value naming an existing relative path becomes absolute,
    since trials may run in another directory. Other macros (the preset's) are left to the trial."""

    def value(match: re.Match) -> str:
        try:
            v = gin.query_parameter(f"%{match.group(1)}")
        except ValueError:
            return match.group(0)
        if isinstance(v, str) and not os.path.isabs(v) and os.path.exists(v):
            v = os.path.abspath(v)
        return repr(v)

    return re.sub(r"%([A-Za-z_][A-Za-z0-9_.]*)", value, binding)


def _rung(name: str, value: Any) -> Rung:
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(RUNG_KEYS))
        missing = [k for k in ("preset", "tokens") if k not in value]
        if unknown or missing:
            raise SpecError(f"rung {name!r}: keys are {list(RUNG_KEYS)} (preset and tokens required); "
                            f"unknown {unknown}, missing {missing}")
        checkpoint = value.get("checkpoint")
        if checkpoint is not None:
            checkpoint = os.path.abspath(os.path.expanduser(str(checkpoint)))
        bindings = tuple(expand_macros(b) for b in value.get("bindings", ()))
        return Rung(name, str(value["preset"]), int(value["tokens"]), bindings, checkpoint)
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(value) not in (2, 3):
        raise SpecError(f"rung {name!r}: expected (preset, tokens[, bindings]), got {value!r}")
    bindings = tuple(expand_macros(b) for b in value[2]) if len(value) == 3 else ()
    return Rung(name, str(value[0]), int(value[1]), bindings)


def check_spec(spec: ExperimentSpec, scored_domains: Sequence[str], train_domains: Sequence[str],
               known_presets: Sequence[str]) -> None:
    """Raises SpecError for anything that cannot run: unknown names, bad numbers, empty search space."""
    if len(spec.domains) < 2 or len(set(spec.domains)) != len(spec.domains):
        raise SpecError(f"experiment.domains must name at least 2 distinct domains, got {list(spec.domains)}")
    unknown = [d for d in spec.domains if d not in train_domains]
    if unknown:
        raise SpecError(f"unknown training domain(s) {unknown}; known: {list(train_domains)}")
    unknown = [d for d in spec.loss_domains if d not in scored_domains]
    if unknown:
        raise SpecError(f"objective names unknown domain(s) {unknown}; scored domains: {list(scored_domains)}")
    if any(not name for name in spec.score_names):
        raise SpecError(f"objective key {SCORE!r} needs a score name, e.g. '{SCORE}exact_match'")
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
        if spec.sources and r.checkpoint is None:
            raise SpecError(f"rung {r.name!r} has no checkpoint: instruction sources (experiment.sources) are "
                            f"tokenized with each rung's checkpoint tokenizer and chat template")
        if r.checkpoint is not None and not spec.sources:
            raise SpecError(f"rung {r.name!r} starts from a checkpoint, which needs instruction domains "
                            f"(experiment.sources = {{domain: JSONL}}); the built-in corpus is byte-tokenized")
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
    if spec.initial_mixtures not in INITIAL_MIXTURES:
        raise SpecError(f"initial_mixtures must be one of {INITIAL_MIXTURES}, got {spec.initial_mixtures!r}")
    if spec.initial_mixtures == "leave_one_out" and spec.initial_trials < len(spec.domains) + 1:
        raise SpecError(f"initial_mixtures='leave_one_out' trains uniform and one mixture per left-out domain: "
                        f"initial_trials must be >= {len(spec.domains) + 1}, got {spec.initial_trials}")
    if spec.confirm_top < 0 or spec.confirm_seeds < 1:
        raise SpecError(f"confirm_top must be >= 0 and confirm_seeds >= 1, got {spec.confirm_top} and {spec.confirm_seeds}")
    if spec.confirm_top and not spec.seed_per_trial:
        raise SpecError("confirm_top re-trains mixtures with new seeds: set experiment.seed_per_trial = True "
                        "(with one seed for every trial a confirmation would repeat the same run)")
    if spec.recommend_from not in RECOMMEND_FROM:
        raise SpecError(f"recommend_from must be one of {RECOMMEND_FROM}, got {spec.recommend_from!r}")
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
