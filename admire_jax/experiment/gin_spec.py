"""The gin surface of the experiment spec: `experiment.NAME = VALUE` in an experiment file.

`experiment(...)` takes what users write (see configs/experiments/demo.gin) and builds the spec's
records from it; gin itself rejects a parameter name it does not know, the records reject bad
values. Call it after the command has parsed gin (`admire_jax.gin_cli.parse_gin`).
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Sequence

import gin

from admire_jax.data.configured import BUILTIN_MAX_BYTES, registry_bindings
from admire_jax.experiment.spec import (
    DEFAULT_TRAINER,
    Budget,
    Confirmation,
    ExperimentSpec,
    InitialDesign,
    Objective,
    Rung,
    RungLadder,
    SearchSpace,
    SpecError,
    TrialSetup,
)

RUNG_KEYS = ("preset", "tokens", "bindings", "checkpoint")


@gin.configurable
def experiment(
    domains: Sequence[str] = gin.REQUIRED,
    objective: str | Mapping[str, float] = gin.REQUIRED,
    rungs: Mapping[str, Sequence[Any] | Mapping[str, Any]] = gin.REQUIRED,
    target_rung: str = gin.REQUIRED,
    budget: float = gin.REQUIRED,
    budget_unit: str = "flops",
    q: int = 1,
    seed: int = 0,
    seed_per_trial: bool = False,
    maximize: bool | None = None,
    bounds: Mapping[str, Sequence[float]] | None = None,
    max_epochs: float | None = None,
    max_trials: int | None = None,
    devices_per_trial: int = 1,
    assumed_flops_per_second: float = 2e9,
    initial_trials: int = 3,
    initial_rungs: Sequence[str] = (),
    initial_mixtures: str = "random",
    confirm_top: int = 0,
    confirm_seeds: int = 1,
    recommend_from: str = "anywhere",
    check_seeds: int = 0,
    trainer: str = DEFAULT_TRAINER,
    trial_bindings: Sequence[str] = (),
    trial_imports: Sequence[str] = (),
    max_bytes: int = 4_000_000,
    sources: Mapping[str, str] | None = None,
    warm_start: str | None = None,
    max_restarts: int = 3,
    checkpoint_rungs: Sequence[str] = (),
) -> ExperimentSpec:
    """The spec as bound in gin. `rungs` maps a name to (preset, train tokens[, [gin bindings]]) or
    to {'preset':, 'tokens':, 'checkpoint':, 'bindings':}; `objective` is one key or {key: weight},
    a key being a validation domain or 'score:NAME' (a score the trials write to result.json).
    `maximize` defaults to False for losses, True for scores (a mix must set it). `sources`
    ({domain: JSONL file or folder}) makes the domains instruction sources; relative paths are
    taken from the current directory. Trials get the data registry's bindings (`registry_bindings`)
    before `trial_bindings`. Each argument's meaning: the record holding it (spec.py)."""
    space = SearchSpace(
        tuple(domains),
        {k: (float(a), float(b)) for k, (a, b) in dict(bounds or {}).items()},
        None if max_epochs is None else float(max_epochs),
    )
    ladder = RungLadder(tuple(_rung(str(name), value) for name, value in dict(rungs).items()), str(target_rung))
    trial_setup = TrialSetup(
        str(trainer),
        (*registry_bindings(skip=BUILTIN_MAX_BYTES), *(expand_macros(b) for b in trial_bindings)),
        tuple(trial_imports),
        int(max_bytes),
        {str(k): os.path.abspath(os.path.expanduser(str(v))) for k, v in dict(sources or {}).items()},
        int(max_restarts),
        tuple(str(r) for r in checkpoint_rungs),
    )
    return ExperimentSpec(
        space=space,
        objective=Objective.parse(objective, maximize),
        ladder=ladder,
        budget=Budget(
            float(budget), str(budget_unit), max_trials, int(devices_per_trial), float(assumed_flops_per_second)
        ),
        initial=InitialDesign(int(initial_trials), tuple(initial_rungs), str(initial_mixtures)),
        confirmation=Confirmation(int(confirm_top), int(confirm_seeds), str(recommend_from), int(check_seeds)),
        trial_setup=trial_setup,
        q=int(q),
        seed=int(seed),
        seed_per_trial=bool(seed_per_trial),
        warm_start=warm_start,
    )


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
            raise SpecError(
                f"rung {name!r}: keys are {list(RUNG_KEYS)} (preset and tokens required); "
                f"unknown {unknown}, missing {missing}"
            )
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
