"""Loading an experiment: parse its gin file, check the spec, price each rung, pick the executor.

Everything that can be wrong with the input is found here and raised as SpecError, before any
training starts. Rung prices are computed the way the trainer counts them (same gin defaults,
preset and bindings), so a FLOP budget and the FLOPs in result.json agree exactly.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import gin

from admire_jax.experiment import spec as spec_lib
from admire_jax.experiment.spec import ExperimentSpec, SpecError

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


@gin.configurable
@dataclasses.dataclass
class Runtime:
    """How the controller runs (not part of the experiment's identity: may change between resumes)."""

    executor: Any = None              # default: LocalExecutor(slots=q)
    poll_seconds: float = 0.5
    compilation_cache: str | None = "~/.cache/admire_jax/jax_compilation_cache"


@dataclasses.dataclass
class LoadedExperiment:
    spec: ExperimentSpec
    runtime: Runtime
    rung_flops: dict[str, float]      # FLOPs of one trial per rung (as the trainer counts them)
    rung_costs: dict[str, float]      # declared cost per trial per rung, in budget units
    bounds: dict[str, tuple[float, float]]
    gin_files: tuple[str, ...]
    gin_bindings: tuple[str, ...]


def known_presets() -> list[str]:
    folder = os.path.join(CONFIG_ROOT, "models")
    return sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".gin"))


def parse_gin(files: Sequence[str], bindings: Sequence[str]) -> None:
    for f in files:
        if not os.path.isfile(f):
            raise SpecError(f"gin file not found: {f}")
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(list(files), list(bindings), finalize_config=False)
    except Exception as exc:  # gin raises ValueError, KeyError, ImportError, SyntaxError...
        raise SpecError(f"gin configuration error: {exc}") from None


def load(files: Sequence[str], bindings: Sequence[str]) -> LoadedExperiment:
    """Parse and check the experiment; leaves its gin config loaded (the Optimizer reads it)."""
    from admire_jax.data.builtin_sources import TARGET_DOMAIN, TRAIN_DOMAINS

    parse_gin(files, bindings)
    try:
        spec = spec_lib.experiment()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(f"experiment config: {exc}") from None
    spec_lib.check_spec(spec, (*TRAIN_DOMAINS, TARGET_DOMAIN), TRAIN_DOMAINS, known_presets())
    rung_flops = {r.name: _rung_flops(spec, r) for r in spec.rungs}
    rung_costs = {name: declared_cost(spec, flops) for name, flops in rung_flops.items()}
    if rung_costs[spec.target_rung] < max(rung_costs.values()):
        raise SpecError(f"the target rung {spec.target_rung!r} must be the most expensive; costs {rung_costs}")
    ordered = tuple(sorted(spec.rungs, key=lambda r: rung_costs[r.name]))
    spec = dataclasses.replace(spec, rungs=ordered)
    cheapest = rung_costs[ordered[0].name]
    if spec.budget < cheapest:
        raise SpecError(f"budget {spec.budget:.4g} {spec.budget_unit} is smaller than one trial of the cheapest "
                        f"rung {ordered[0].name!r} ({cheapest:.4g} {spec.budget_unit})")
    bounds = spec_lib.epoch_bounds(spec, domain_tokens(spec) if spec.max_epochs is not None else {})
    parse_gin(files, bindings)  # pricing the rungs replaced the config; the Optimizer needs it back
    try:
        runtime = Runtime()
    except (TypeError, ValueError) as exc:
        raise SpecError(f"runtime config: {exc}") from None
    if runtime.executor is None:
        from admire_jax.experiment.executors import LocalExecutor

        runtime.executor = LocalExecutor(slots=spec.q)
    return LoadedExperiment(spec, runtime, rung_flops, rung_costs, bounds, tuple(files), tuple(bindings))


def declared_cost(spec: ExperimentSpec, flops: float) -> float:
    """A trial's expected cost in the budget's unit, before any trial is measured."""
    if spec.budget_unit == "flops":
        return flops
    seconds = flops / spec.assumed_flops_per_second
    return seconds if spec.budget_unit == "wall_seconds" else seconds * spec.devices_per_trial / 3600.0


def measured_cost(spec: ExperimentSpec, flops: float | None, wall_seconds: float | None) -> float | None:
    """A finished trial's cost in the budget's unit, from its result."""
    if spec.budget_unit == "flops":
        return flops
    if wall_seconds is None:
        return None
    return wall_seconds if spec.budget_unit == "wall_seconds" else wall_seconds * spec.devices_per_trial / 3600.0


def trial_bindings(spec: ExperimentSpec, rung_name: str, seed: int = 0) -> list[str]:
    """The gin bindings a trial of `rung_name` is trained with (after its preset)."""
    rung = spec.rung(rung_name)
    return [f"builtin_domains.max_bytes = {spec.max_bytes}", f"builtin_target.max_bytes = {spec.max_bytes}",
            *spec.trial_bindings, *rung.bindings, f"TRAIN_TOKENS = {rung.tokens}", f"TrainConfig.seed = {seed}"]


def _rung_flops(spec: ExperimentSpec, rung: spec_lib.Rung) -> float:
    from admire_jax.data import ByteTokenizer
    from admire_jax.model import TransformerConfig
    from admire_jax.train.cli import model_config_for
    from admire_jax.train.flags import TRAIN_DEFAULTS
    from admire_jax.train.trainer import TrainConfig

    files = [TRAIN_DEFAULTS, os.path.join(CONFIG_ROOT, "models", f"{rung.preset}.gin")]
    try:
        parse_gin(files, trial_bindings(spec, rung.name))
        train = TrainConfig()
        model = model_config_for(TransformerConfig, ByteTokenizer().vocab_size)
    except SpecError as exc:
        raise SpecError(f"rung {rung.name!r} (trial_bindings or rung bindings): {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SpecError(f"rung {rung.name!r}: {exc}") from None
    return float(model.train_flops_per_token(train.seq_len) * train.seq_len * train.global_batch * train.total_steps)


def domain_tokens(spec: ExperimentSpec) -> dict[str, int]:
    """Training tokens available per domain (builds the built-in corpus if needed)."""
    from admire_jax.data import ByteTokenizer, builtin_domains
    from admire_jax.data.stream import token_stream

    tokenizer = ByteTokenizer()
    return {d.name: len(token_stream(d, "train", tokenizer))
            for d in builtin_domains(list(spec.domains), max_bytes=spec.max_bytes)}
