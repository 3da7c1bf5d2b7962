"""The experiment spec: a few small records, each checking itself when it is made.

`SearchSpace` (domains, bounds), `Objective` (objective.py), `RungLadder` (the fidelities and the
target), `Budget`, `InitialDesign`, `Confirmation` (how the search ends) and `TrialSetup` (how a
trial is launched), held by `ExperimentSpec` with the search's seed and round size. Gin users
write `experiment.*` (gin_spec.py); a bad value fails here, before any training starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
from typing import Mapping

from admire_jax import gin_cli
from admire_jax.experiment.objective import Objective, SpecError

__all__ = [
    "Budget",
    "Confirmation",
    "ExperimentSpec",
    "InitialDesign",
    "Objective",
    "Rung",
    "RungLadder",
    "SearchSpace",
    "SpecError",
    "TrialSetup",
    "DEFAULT_TRAINER",
    "mix_seed",
]

DEFAULT_TRAINER = "admire_jax.train.cli:main"
BUDGET_UNITS = ("flops", "device_hours", "wall_seconds")
RECOMMEND_FROM = ("anywhere", "target_trials")
INITIAL_MIXTURES = ("random", "leave_one_out")
SEARCH_SEED_OFFSET = 1000  # search-trial seeds start here, apart from the check's seeds 0, 1, ...
SEED_MODULUS = 2**31 - 1


def mix_seed(seed: int, n: int, modulus: int = SEED_MODULUS) -> int:
    """A seed of its own for the n-th draw of a seeded sequence: the one seed hash of the search
    (the optimiser's round seeds and the search trials' training seeds)."""
    return (int(seed) * 1_000_003 + int(n)) % modulus


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The domains mixed, per-domain weight bounds, and how often the target rung may repeat a domain."""

    domains: tuple[str, ...]
    bounds: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    max_epochs: float | None = None  # w_i * target tokens <= max_epochs * tokens_i (see config.epoch_bounds)

    def __post_init__(self):
        if len(self.domains) < 2 or len(set(self.domains)) != len(self.domains):
            raise SpecError(f"experiment.domains must name at least 2 distinct domains, got {list(self.domains)}")
        unknown = [d for d in self.bounds if d not in self.domains]
        if unknown:
            raise SpecError(f"bounds name unknown domain(s) {unknown}; domains: {list(self.domains)}")
        if self.max_epochs is not None and not self.max_epochs > 0:
            raise SpecError(f"max_epochs must be positive, got {self.max_epochs}")


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

    def __post_init__(self):
        if self.preset not in gin_cli.known_presets():
            raise SpecError(
                f"rung {self.name!r}: unknown preset {self.preset!r}; known presets: {gin_cli.known_presets()}"
            )
        if self.tokens < 1:
            raise SpecError(f"rung {self.name!r}: tokens must be >= 1, got {self.tokens}")


@dataclasses.dataclass(frozen=True)
class RungLadder:
    """The rungs (in the order given; `config.load` orders them cheapest first) and the target."""

    rungs: tuple[Rung, ...]
    target: str

    def __post_init__(self):
        if not self.rungs:
            raise SpecError("experiment.rungs is empty")
        if len(set(self.names)) != len(self.names):
            raise SpecError(f"rung names must be distinct, got {self.names}")
        if self.target not in self.names:
            raise SpecError(f"target_rung {self.target!r} is not a rung; rungs: {self.names}")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rungs]

    def rung(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise SpecError(f"unknown rung {name!r}; rungs: {self.names}")


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much the search may spend, in which unit, and how a cost is counted in it."""

    amount: float
    unit: str = "flops"
    max_trials: int | None = None  # a cap on search trials besides the budget
    devices_per_trial: int = 1  # for device-hour budgets
    assumed_flops_per_second: float = 2e9  # declared time cost of a rung before any is measured

    def __post_init__(self):
        if self.unit not in BUDGET_UNITS:
            raise SpecError(f"budget_unit must be one of {BUDGET_UNITS}, got {self.unit!r}")
        if not (self.amount > 0 and math.isfinite(self.amount)):
            raise SpecError(f"budget must be positive, got {self.amount}")
        if self.devices_per_trial < 1:
            raise SpecError(f"devices_per_trial must be >= 1, got {self.devices_per_trial}")
        if not self.assumed_flops_per_second > 0:
            raise SpecError(f"assumed_flops_per_second must be positive, got {self.assumed_flops_per_second}")

    def declared_cost(self, flops: float) -> float:
        """A trial's expected cost in this unit, before any trial is measured."""
        if self.unit == "flops":
            return flops
        seconds = flops / self.assumed_flops_per_second
        return seconds if self.unit == "wall_seconds" else seconds * self.devices_per_trial / 3600.0

    def measured_cost(self, flops: float | None, wall_seconds: float | None) -> float | None:
        """A finished trial's cost in this unit, from its result."""
        if self.unit == "flops":
            return flops
        if wall_seconds is None:
            return None
        return wall_seconds if self.unit == "wall_seconds" else wall_seconds * self.devices_per_trial / 3600.0


@dataclasses.dataclass(frozen=True)
class InitialDesign:
    """The first trials: `trials` mixtures (uniform first; then 'random' draws, or 'leave_one_out':
    uniform over all domains but one, for each domain) at each of `rungs` (default: the cheapest)."""

    trials: int = 3
    rungs: tuple[str, ...] = ()
    mixtures: str = "random"

    def __post_init__(self):
        if self.trials < 0:
            raise SpecError(f"initial_trials must be >= 0, got {self.trials}")
        if self.mixtures not in INITIAL_MIXTURES:
            raise SpecError(f"initial_mixtures must be one of {INITIAL_MIXTURES}, got {self.mixtures!r}")


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """How the search ends: re-training its `top` best target mixtures with `seeds` more seeds each
    (0: not), where the recommendation may lie ('anywhere' in the bounds or among 'target_trials'
    mixtures), and the check after it (recommended and uniform with `check_seeds` seeds each)."""

    top: int = 0
    seeds: int = 1
    recommend_from: str = "anywhere"
    check_seeds: int = 0

    def __post_init__(self):
        if self.top < 0 or self.seeds < 1:
            raise SpecError(f"confirm_top must be >= 0 and confirm_seeds >= 1, got {self.top} and {self.seeds}")
        if self.recommend_from not in RECOMMEND_FROM:
            raise SpecError(f"recommend_from must be one of {RECOMMEND_FROM}, got {self.recommend_from!r}")
        if self.check_seeds < 0:
            raise SpecError(f"check_seeds must be >= 0, got {self.check_seeds}")

    @property
    def trials(self) -> int:
        """How many trials the confirmation phase adds at most (they are paid from the budget)."""
        return self.top * self.seeds


@dataclasses.dataclass(frozen=True)
class TrialSetup:
    """How a trial is launched: the trainer ('module:function' taking `admire-jax train`'s
    arguments), the gin bindings every trial gets, modules it imports first, the built-in corpus
    size per domain, instruction sources ({domain: JSONL file or folder}) if any, how often a
    preempted trial is started again, and the rungs whose trials keep their checkpoints (so that a
    long trial preempted resumes instead of starting from zero; a search trial needs none else)."""

    trainer: str = DEFAULT_TRAINER
    bindings: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    max_bytes: int = 4_000_000
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_restarts: int = 3  # starts after the first of a preempted or lost trial, before it counts as failed
    checkpoint_rungs: tuple[str, ...] = ()  # rungs whose trials write checkpoints (the others write none)

    def __post_init__(self):
        if self.max_restarts < 0:
            raise SpecError(f"max_restarts must be >= 0, got {self.max_restarts}")
        module, _, function = self.trainer.partition(":")
        if not module or not function:
            raise SpecError(f"trainer must be 'module:function', got {self.trainer!r}")
        try:
            found = callable(getattr(importlib.import_module(module), function, None))
        except ImportError as exc:
            raise SpecError(f"trainer {self.trainer!r}: cannot import {module!r}: {exc}") from None
        if not found:
            raise SpecError(f"trainer {self.trainer!r}: {module} has no function {function!r}")
        for name in self.imports:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise SpecError(f"experiment.trial_imports: cannot import {name!r}: {exc}") from None
        if self.max_bytes < 1:
            raise SpecError(f"max_bytes must be >= 1, got {self.max_bytes}")


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """Everything that decides which trials run and how they are scored (the executor aside)."""

    space: SearchSpace
    objective: Objective
    ladder: RungLadder
    budget: Budget
    initial: InitialDesign = dataclasses.field(default_factory=InitialDesign)
    confirmation: Confirmation = dataclasses.field(default_factory=Confirmation)
    trial_setup: TrialSetup = dataclasses.field(default_factory=TrialSetup)
    q: int = 1  # trials per round
    seed: int = 0  # the search's seed: proposals are a function of it
    seed_per_trial: bool = False  # True: search trial n trains with search_seed(n), else with seed
    warm_start: str | None = None  # runs table (export format) told before the first proposal

    def __post_init__(self):
        if self.q < 1:
            raise SpecError(f"q must be >= 1, got {self.q}")
        for name, rungs in (
            ("initial_rungs", self.initial.rungs),
            ("checkpoint_rungs", self.trial_setup.checkpoint_rungs),
        ):
            unknown = [r for r in rungs if r not in self.ladder.names]
            if unknown:
                raise SpecError(f"{name} names unknown rung(s) {unknown}; rungs: {self.ladder.names}")
        n = len(self.space.domains)
        if self.initial.mixtures == "leave_one_out" and self.initial.trials < n + 1:
            raise SpecError(
                f"initial_mixtures='leave_one_out' trains uniform and one mixture per left-out domain: "
                f"initial_trials must be >= {n + 1}, got {self.initial.trials}"
            )
        if self.confirmation.top and not self.seed_per_trial:
            raise SpecError(
                "confirm_top re-trains mixtures with new seeds: set experiment.seed_per_trial = True "
                "(with one seed for every trial a confirmation would repeat the same run)"
            )
        for r in self.ladder.rungs:
            if self.trial_setup.sources and r.checkpoint is None:
                raise SpecError(
                    f"rung {r.name!r} has no checkpoint: instruction sources (experiment.sources) are "
                    f"tokenized with each rung's checkpoint tokenizer and chat template"
                )
            if r.checkpoint is not None and not self.trial_setup.sources:
                raise SpecError(
                    f"rung {r.name!r} starts from a checkpoint, which needs instruction domains "
                    f"(experiment.sources = {{domain: JSONL}}); the built-in corpus is byte-tokenized"
                )

    @property
    def domains(self) -> tuple[str, ...]:
        return self.space.domains

    @property
    def target_rung(self) -> str:
        return self.ladder.target

    def search_seed(self, n: int) -> int:
        """Training seed of the search trial recorded after `n` others: `seed` itself, or with
        seed_per_trial a seed of its own (>= SEARCH_SEED_OFFSET, so never a check seed), so that
        seed-to-seed variation reaches the optimiser as noise, not as a bias shared by all trials."""
        if not self.seed_per_trial:
            return self.seed
        return SEARCH_SEED_OFFSET + mix_seed(self.seed, n, SEED_MODULUS - SEARCH_SEED_OFFSET)

    def fingerprint(self) -> str:
        """Hash of everything that decides proposals (stored in the experiment directory); the
        budget's amount, max_trials and check_seeds decide only when to stop, and max_restarts and
        checkpoint_rungs only how trials run, so an experiment continues with them changed."""
        identity = dataclasses.asdict(self)
        for record, field in (
            ("budget", "amount"),
            ("budget", "max_trials"),
            ("confirmation", "check_seeds"),
            ("trial_setup", "max_restarts"),
            ("trial_setup", "checkpoint_rungs"),
        ):
            del identity[record][field]
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
