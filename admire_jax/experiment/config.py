"""Loading an experiment: parse its gin file, check the spec, price each rung, pick the executor.

Everything that can be wrong with the input is found here and raised as SpecError, before any
training starts. Rung prices are computed the way the trainer counts them (same gin defaults,
preset and bindings), so a FLOP budget and the FLOPs in result.json agree exactly.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, Sequence

import gin

from admire_jax.experiment import spec as spec_lib
from admire_jax.experiment.spec import ExperimentSpec, SpecError

DEFAULT_TRAINER = "admire_jax.train.cli:main"
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
    rung_params: dict[str, int] = dataclasses.field(default_factory=dict)  # non-embedding parameters per rung


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
    parse_gin(files, bindings)
    try:
        spec = spec_lib.experiment()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(f"experiment config: {exc}") from None
    _import_trial_modules(spec)
    train_domains, scored_domains = _domain_names(spec)
    spec_lib.check_spec(spec, scored_domains, train_domains, known_presets())
    prices = {r.name: _rung_price(spec, r) for r in spec.rungs}
    rung_flops = {name: price.flops for name, price in prices.items()}
    rung_costs = {name: declared_cost(spec, flops) for name, flops in rung_flops.items()}
    if rung_costs[spec.target_rung] < max(rung_costs.values()):
        raise SpecError(f"the target rung {spec.target_rung!r} must be the most expensive; costs {rung_costs}")
    ordered = tuple(sorted(spec.rungs, key=lambda r: rung_costs[r.name]))
    spec = dataclasses.replace(spec, rungs=ordered)
    cheapest = rung_costs[ordered[0].name]
    if spec.budget < cheapest:
        raise SpecError(f"budget {spec.budget:.4g} {spec.budget_unit} is smaller than one trial of the cheapest "
                        f"rung {ordered[0].name!r} ({cheapest:.4g} {spec.budget_unit})")
    confirming = spec.confirmation_trials() * rung_costs[spec.target_rung]
    if confirming and spec.budget < cheapest + confirming:
        raise SpecError(f"budget {spec.budget:.4g} {spec.budget_unit} leaves nothing to search after the "
                        f"{spec.confirmation_trials()} confirmation trials at {spec.target_rung!r} "
                        f"({confirming:.4g} {spec.budget_unit}); raise the budget or lower confirm_top / confirm_seeds")
    tokens = prices[spec.target_rung].domain_tokens
    if not spec.sources and spec.max_epochs is not None:
        tokens = domain_tokens(spec)
    bounds = spec_lib.epoch_bounds(spec, tokens)
    parse_gin(files, bindings)  # pricing the rungs replaced the config; the Optimizer needs it back
    try:
        runtime = Runtime()
    except (TypeError, ValueError) as exc:
        raise SpecError(f"runtime config: {exc}") from None
    if runtime.executor is None:
        from admire_jax.experiment.executors import LocalExecutor

        runtime.executor = LocalExecutor(slots=spec.q)
    return LoadedExperiment(spec, runtime, rung_flops, rung_costs, bounds, tuple(files), tuple(bindings),
                            {name: price.params for name, price in prices.items()})


def _domain_names(spec: ExperimentSpec) -> tuple[list[str], list[str]]:
    """(trainable domains, domains with a validation loss): the built-in corpus and its target
    set, or the instruction sources (a source left out of `domains` is scored, never trained)."""
    if spec.sources:
        return sorted(spec.sources), sorted(spec.sources)
    from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS

    return list(TRAIN_DOMAINS), [*TRAIN_DOMAINS, *TARGET_DOMAINS]


def _import_trial_modules(spec: ExperimentSpec) -> None:
    """Imports what trials import (gin registrations such as an evaluation function), so their
    bindings can be checked here."""
    for module in spec.trial_imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SpecError(f"experiment.trial_imports: cannot import {module!r}: {exc}") from None


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
    if spec.sources:
        data = ["train.data_factory = @instruction_data", f"instruction_data.sources = {spec.sources!r}",
                f"instruction_data.checkpoint = {rung.checkpoint!r}",
                f"TrainConfig.init_checkpoint = {rung.checkpoint!r}"]
    else:
        data = [f"builtin_domains.max_bytes = {spec.max_bytes}", f"builtin_targets.max_bytes = {spec.max_bytes}"]
    return [*data, *spec.trial_bindings, *rung.bindings, f"TRAIN_TOKENS = {rung.tokens}", f"TrainConfig.seed = {seed}"]


@dataclasses.dataclass(frozen=True)
class RungPrice:
    """What one trial of a rung costs, counted as the trainer counts it."""

    flops: float          # forward + backward model FLOPs of the whole trial (about 6 x params x tokens)
    params: int           # non-embedding parameters of the rung's model
    domain_tokens: dict[str, int]  # instruction sources: training tokens per domain (else empty)


def _rung_price(spec: ExperimentSpec, rung: spec_lib.Rung) -> RungPrice:
    """Parses the rung's trial config (defaults, preset, bindings) as the trainer will and prices it;
    a checkpoint rung takes its architecture from the checkpoint's config.json. Also checks that the
    trials compute every score the objective reads."""
    from admire_jax.data import ByteTokenizer
    from admire_jax.model import TransformerConfig
    from admire_jax.model.hf import verify_checkpoint
    from admire_jax.train.cli import model_config_for, train_options
    from admire_jax.train.flags import TRAIN_DEFAULTS
    from admire_jax.train.trainer import TrainConfig
    from admire_jax.train.transformer_spec import checkpoint_config

    files = [TRAIN_DEFAULTS, os.path.join(CONFIG_ROOT, "models", f"{rung.preset}.gin")]
    try:
        parse_gin(files, trial_bindings(spec, rung.name))
        train = TrainConfig()
        if rung.checkpoint is None:
            model = model_config_for(TransformerConfig, ByteTokenizer().vocab_size)
        else:  # its tensors are checked against config.json now (headers only), not in the trial
            model = checkpoint_config(rung.checkpoint, TransformerConfig())
            verify_checkpoint(rung.checkpoint)
        evaluations = train_options()[1]
        tokens = instruction_tokens(spec, rung, train.seq_len) if spec.sources else {}
    except SpecError as exc:
        raise SpecError(f"rung {rung.name!r} (trial_bindings or rung bindings): {exc}") from None
    except (TypeError, ValueError, OSError) as exc:
        raise SpecError(f"rung {rung.name!r}: {exc}") from None
    missing = [name for name in spec.score_names if name not in evaluations]
    if missing and spec.trainer == DEFAULT_TRAINER:  # another trainer writes its own scores
        raise SpecError(f"the objective reads score(s) {missing}, which rung {rung.name!r} does not compute; its "
                        f"trials compute {sorted(evaluations)} (bind train.evaluations = {{NAME: @function}} in "
                        f"experiment.trial_bindings, and the module registering the function in "
                        f"experiment.trial_imports)")
    flops = model.train_flops_per_token(train.seq_len) * train.seq_len * train.global_batch * train.total_steps
    return RungPrice(float(flops), int(model.non_embedding_params()), tokens)


def instruction_tokens(spec: ExperimentSpec, rung: spec_lib.Rung, seq_len: int) -> dict[str, int]:
    """Prepares every instruction source as the rung's trials will (same gin-bound data_dir and
    validation split; bad lines fail here, naming file and line, and parallel trials find the
    datasets cached) and returns each domain's training tokens under the rung's tokenizer."""
    from admire_jax.data import HFTokenizer, instruct_domain
    from admire_jax.data.instruct_loader import packed_rows

    data_dir = _bound("instruction_data.data_dir", None)
    fraction = _bound("instruction_data.validation_fraction", 0.05)
    tokenizer = HFTokenizer(rung.checkpoint)
    counts = {}
    for name in sorted(spec.sources):
        domain = instruct_domain(name, spec.sources[name], validation_fraction=fraction, data_dir=data_dir)
        rows = packed_rows(domain, "train", tokenizer, seq_len, data_dir)
        counts[name] = int((rows["segment_ids"] > 0).sum())
    return {d: counts[d] for d in spec.domains}


def _bound(parameter: str, default: Any) -> Any:
    try:
        return gin.query_parameter(parameter)
    except ValueError:
        return default


def domain_tokens(spec: ExperimentSpec) -> dict[str, int]:
    """Training tokens available per domain (builds the built-in corpus if needed)."""
    from admire_jax.data import ByteTokenizer, builtin_domains
    from admire_jax.data.stream import token_stream

    tokenizer = ByteTokenizer()
    return {d.name: len(token_stream(d, "train", tokenizer))
            for d in builtin_domains(list(spec.domains), max_bytes=spec.max_bytes)}
