"""Loading an experiment: its spec from the parsed gin, each rung priced, the runtime picked.

A command parses gin once (`admire_jax.gin_cli.parse_gin`); `load` does that and builds every
experiment object from it (the spec's records, the Runtime, the OptimizerConfig) before it prices
the rungs through the trainer's public `plan`, which parses the trainer's gin in isolation.
Everything that can be wrong with the input is found here and raised as SpecError, before any
training starts. Rung prices are computed the way the trainer counts them, so a FLOP budget and
the FLOPs in result.json agree exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import gin

from admire_jax import gin_cli, gin_unread
from admire_jax.bo import OptimizerConfig
from admire_jax.data.configured import BUILTIN_MAX_BYTES, registry_bindings
from admire_jax.experiment import trial
from admire_jax.experiment.gin_spec import experiment
from admire_jax.experiment.spec import DEFAULT_TRAINER, ExperimentSpec, Rung, SpecError
from admire_jax.train.plan import PlanError, TrialPlan, plan


@gin.configurable
@dataclasses.dataclass
class Runtime:
    """How the controller runs (not part of the experiment's identity: may change between resumes)."""

    executor: Any = None  # default: LocalExecutor(slots=q)
    poll_seconds: float = 0.5  # the wait between polls after an event; then a tenth of the idle time
    max_poll_seconds: float = 30.0  # up to this
    trial_timeout_seconds: float | None = None  # a trial without a result this long after its launch fails
    max_running: Mapping[str, int] | None = None  # {rung: most trials of that rung running at once}
    compilation_cache: str | None = "~/.cache/admire_jax/jax_compilation_cache"

    def __post_init__(self):
        if not 0 < self.poll_seconds <= self.max_poll_seconds:
            raise SpecError(
                f"Runtime.poll_seconds must be positive and at most max_poll_seconds, got "
                f"{self.poll_seconds} and {self.max_poll_seconds}"
            )
        if self.trial_timeout_seconds is not None and not self.trial_timeout_seconds > 0:
            raise SpecError(f"Runtime.trial_timeout_seconds must be positive, got {self.trial_timeout_seconds}")
        if any(int(n) < 1 for n in dict(self.max_running or {}).values()):
            raise SpecError(f"Runtime.max_running allows at least 1 trial per rung, got {dict(self.max_running)}")


@dataclasses.dataclass(frozen=True)
class RungPrice:
    """What one trial of a rung costs, counted as the trainer counts it."""

    flops: float  # forward + backward model FLOPs of the whole trial (about 6 x params x tokens)
    params: int  # non-embedding parameters of the rung's model
    domain_tokens: dict[str, int]  # instruction sources: training tokens per domain (else empty)


@dataclasses.dataclass
class LoadedExperiment:
    spec: ExperimentSpec  # rungs ordered cheapest first
    runtime: Runtime
    optimizer: OptimizerConfig  # the BO engine's settings, for every Optimizer of the search
    rung_flops: dict[str, float]  # FLOPs of one trial per rung (as the trainer counts them)
    rung_costs: dict[str, float]  # declared cost per trial per rung, in budget units
    bounds: dict[str, tuple[float, float]]
    gin_files: tuple[str, ...]
    gin_bindings: tuple[str, ...]
    rung_params: dict[str, int] = dataclasses.field(default_factory=dict)  # non-embedding parameters per rung


def load(
    files: Sequence[str], bindings: Sequence[str], search_paths: Sequence[str] = (gin_cli.CONFIG_ROOT,)
) -> LoadedExperiment:
    """Parse the experiment's gin once and build it; gin errors and bad values are SpecErrors."""
    try:
        resolved = gin_cli.parse_gin(files, bindings, search_paths)
    except gin_cli.UsageError as exc:
        raise SpecError(str(exc)) from None
    try:
        spec = experiment()
        runtime = Runtime()
        optimizer = OptimizerConfig()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(f"experiment config: {exc}") from None
    if runtime.executor is None:
        from admire_jax.experiment.executors import LocalExecutor

        runtime.executor = LocalExecutor(slots=spec.q)
    unknown = [r for r in dict(runtime.max_running or {}) if r not in spec.ladder.names]
    if unknown:
        raise SpecError(f"Runtime.max_running names unknown rung(s) {unknown}; rungs: {spec.ladder.names}")
    check_every_binding_read(resolved, bindings)
    return priced(spec, runtime, optimizer, tuple(resolved), tuple(bindings))


def check_every_binding_read(files: Sequence[str], bindings: Sequence[str]) -> None:
    """Refuses an experiment whose own gin binds a parameter that neither the controller reads nor
    its trials get: a trainer setting (`TrainConfig.*`) in the experiment file would otherwise be
    dropped in silence for a whole search. Run after everything the controller builds is built."""
    forwarded = [b.split("=", 1)[0].strip() for b in registry_bindings(skip=BUILTIN_MAX_BYTES)]
    never = gin_unread.unread(gin_unread.user_parameters(files, bindings, gin_cli.CONFIG_ROOT), forwarded)
    if never:
        hint = (
            "the trials' text per built-in domain is experiment.max_bytes"
            if set(never) & set(BUILTIN_MAX_BYTES)
            else "the trainer's settings reach the trials through experiment.trial_bindings or a rung's bindings"
        )
        raise SpecError(f"these gin bindings would never be read by the search: {', '.join(never)}; {hint}")


def priced(
    spec: ExperimentSpec,
    runtime: Runtime,
    optimizer: OptimizerConfig,
    files: tuple[str, ...],
    bindings: tuple[str, ...],
) -> LoadedExperiment:
    """The experiment with its rungs priced (and ordered cheapest first) and its bounds."""
    check_domains(spec)
    prices = {r.name: _rung_price(spec, r) for r in spec.ladder.rungs}
    rung_flops = {name: price.flops for name, price in prices.items()}
    rung_costs = {name: spec.budget.declared_cost(flops) for name, flops in rung_flops.items()}
    if rung_costs[spec.target_rung] < max(rung_costs.values()):
        raise SpecError(f"the target rung {spec.target_rung!r} must be the most expensive; costs {rung_costs}")
    ordered = tuple(sorted(spec.ladder.rungs, key=lambda r: rung_costs[r.name]))
    spec = dataclasses.replace(spec, ladder=dataclasses.replace(spec.ladder, rungs=ordered))
    budget, unit = spec.budget.amount, spec.budget.unit
    cheapest = rung_costs[ordered[0].name]
    if budget < cheapest:
        raise SpecError(
            f"budget {budget:.4g} {unit} is smaller than one trial of the cheapest "
            f"rung {ordered[0].name!r} ({cheapest:.4g} {unit})"
        )
    confirming = spec.confirmation.trials * rung_costs[spec.target_rung]
    if confirming and budget < cheapest + confirming:
        raise SpecError(
            f"budget {budget:.4g} {unit} leaves nothing to search after the "
            f"{spec.confirmation.trials} confirmation trials at {spec.target_rung!r} "
            f"({confirming:.4g} {unit}); raise the budget or lower confirm_top / confirm_seeds"
        )
    tokens = prices[spec.target_rung].domain_tokens
    if not spec.trial_setup.sources and spec.space.max_epochs is not None:
        tokens = domain_tokens(spec)
    return LoadedExperiment(
        spec,
        runtime,
        optimizer,
        rung_flops,
        rung_costs,
        epoch_bounds(spec, tokens),
        files,
        bindings,
        {name: price.params for name, price in prices.items()},
    )


def check_domains(spec: ExperimentSpec) -> None:
    """The domains are trainable and the objective's losses are scored: by the data registry's
    training domains and evaluation-only targets (`configured_domains`, `configured_targets`), or
    by the instruction sources (a source left out of `domains` is scored, never trained)."""
    if spec.trial_setup.sources:
        train_domains = scored_domains = sorted(spec.trial_setup.sources)
    else:
        from admire_jax.data import configured_names

        try:
            train_domains, targets = configured_names()
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        scored_domains = [*train_domains, *targets]
    unknown = [d for d in spec.domains if d not in train_domains]
    if unknown:
        raise SpecError(f"unknown training domain(s) {unknown}; known: {list(train_domains)}")
    unknown = [d for d in spec.objective.loss_domains if d not in scored_domains]
    if unknown:
        raise SpecError(f"objective names unknown domain(s) {unknown}; scored domains: {list(scored_domains)}")


NO_CHECKPOINTS = 0  # TrainConfig.checkpoint_every that switches the trainer's checkpoints off


def trial_bindings(spec: ExperimentSpec, rung_name: str, seed: int = 0) -> list[str]:
    """The gin bindings a trial of `rung_name` is trained with (after its preset). A search trial's
    product is its result, and a checkpoint of a large model costs gigabytes, so trials write none
    unless their rung is one of `experiment.checkpoint_rungs` (then a preempted trial resumes from
    its last checkpoint instead of starting again)."""
    rung = spec.ladder.rung(rung_name)
    sources = spec.trial_setup.sources
    if sources:
        data = [
            "train.data_factory = @instruction_data",
            f"instruction_data.sources = {dict(sources)!r}",
            f"instruction_data.checkpoint = {rung.checkpoint!r}",
            f"TrainConfig.init_checkpoint = {rung.checkpoint!r}",
        ]
    else:
        data = [f"{name} = {spec.trial_setup.max_bytes}" for name in BUILTIN_MAX_BYTES]
    checkpoints = (
        [] if rung_name in spec.trial_setup.checkpoint_rungs else [f"TrainConfig.checkpoint_every = {NO_CHECKPOINTS}"]
    )
    return [
        *data,
        *checkpoints,
        *spec.trial_setup.bindings,
        *rung.bindings,
        f"TRAIN_TOKENS = {rung.tokens}",
        f"TrainConfig.seed = {seed}",
    ]


def trial_command(
    spec: ExperimentSpec,
    rung_name: str,
    seed: int,
    run_dir: Path,
    mixture: Mapping[str, float],
    extra: Sequence[str] = (),
) -> list[str]:
    """Writes `mixture` to the trial's `run_dir/mixture.json` and returns the command line that trains
    it at `rung_name` with `seed`: the rung's preset and the trial's gin bindings (`trial_bindings`,
    then `extra`) as the trainer's flags, run through `admire_jax.experiment.trial`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    mixture_path = run_dir / "mixture.json"
    mixture_path.write_text(json.dumps({"mixture": dict(mixture)}))
    rung = spec.ladder.rung(rung_name)
    args = [f"--preset={rung.preset}", f"--mixture={mixture_path}", f"--run_dir={run_dir}"]
    for binding in [*trial_bindings(spec, rung_name, seed), *extra]:
        name, _, value = binding.partition("=")
        args.append(f"--gin.{name.strip()}={value.strip()}")
    return trial.command(str(run_dir), spec.trial_setup.trainer, args, spec.trial_setup.imports)


def _rung_price(spec: ExperimentSpec, rung: Rung) -> RungPrice:
    """The rung's trial as the trainer plans it (defaults, preset, bindings; a checkpoint rung
    takes its architecture from the checkpoint). Also checks that the default trainer computes
    every score the objective reads (another trainer writes its own scores)."""
    try:
        trial = plan(rung.preset, trial_bindings(spec, rung.name))
        tokens = instruction_tokens(spec, rung, trial) if spec.trial_setup.sources else {}
    except gin_cli.UsageError as exc:
        raise SpecError(f"rung {rung.name!r} (trial_bindings or rung bindings): {exc}") from None
    except (PlanError, TypeError, ValueError, OSError) as exc:
        raise SpecError(f"rung {rung.name!r}: {exc}") from None
    missing = [name for name in spec.objective.score_names if name not in trial.evaluations]
    if missing and spec.trial_setup.trainer == DEFAULT_TRAINER:
        raise SpecError(
            f"the objective reads score(s) {missing}, which rung {rung.name!r} does not compute; its "
            f"trials compute {list(trial.evaluations)} (bind train.evaluations = {{NAME: @function}} in "
            f"experiment.trial_bindings, and the module registering the function in "
            f"experiment.trial_imports)"
        )
    return RungPrice(trial.flops, trial.non_embedding_params, tokens)


def instruction_tokens(spec: ExperimentSpec, rung: Rung, trial: TrialPlan) -> dict[str, int]:
    """Prepares every instruction source as the rung's `trial` will (same data_dir and validation
    split; bad lines fail here, naming file and line, and parallel trials find the datasets
    cached) and returns each domain's training tokens under the rung's tokenizer."""
    from admire_jax.data import HFTokenizer, instruct_domain
    from admire_jax.data.instruct_loader import packed_rows

    tokenizer = HFTokenizer(rung.checkpoint)
    counts = {}
    for name in sorted(spec.trial_setup.sources):
        domain = instruct_domain(
            name,
            spec.trial_setup.sources[name],
            data_dir=trial.instruction_data_dir,
            validation_fraction=trial.instruction_validation_fraction,
        )
        rows = packed_rows(domain, "train", tokenizer, trial.seq_len, trial.instruction_data_dir)
        counts[name] = int((rows["segment_ids"] > 0).sum())
    return {d: counts[d] for d in spec.domains}


def domain_tokens(spec: ExperimentSpec) -> dict[str, int]:
    """Training tokens available per domain under the configured tokenizer (prepares the token
    caches of the trials' data if needed)."""
    return {r["domain"]: r["tokens"] for r in prepare_data(spec) if r["split"] == "train"}


def prepare_data(spec: ExperimentSpec) -> list[dict]:
    """Builds every token cache the trials read, as they read it (the built-in corpus at the
    experiment's `max_bytes`): bad data fails here, before any training, and parallel trials
    find the caches ready. The cache records of the experiment's domains and the targets."""
    from admire_jax.data.prepare import prepare_configured

    with gin_cli.isolated():
        with gin.unlock_config():
            gin.bind_parameter("builtin_domains.max_bytes", spec.trial_setup.max_bytes)
            gin.bind_parameter("builtin_targets.max_bytes", spec.trial_setup.max_bytes)
        try:
            return prepare_configured(list(spec.domains))
        except ValueError as exc:
            raise SpecError(str(exc)) from None


def epoch_bounds(spec: ExperimentSpec, tokens_per_domain: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """The bounds with w_i <= max_epochs * tokens_i / target_tokens folded in (so a recommendation
    never repeats a small domain more than `max_epochs` times at the target rung's budget)."""
    space = spec.space
    bounds = {d: tuple(space.bounds.get(d, (0.0, 1.0))) for d in space.domains}
    if space.max_epochs is None:
        return {d: b for d, b in bounds.items() if b != (0.0, 1.0)}
    target_tokens = spec.ladder.rung(spec.target_rung).tokens
    for d in space.domains:
        lo, hi = bounds[d]
        bounds[d] = (lo, min(hi, space.max_epochs * tokens_per_domain[d] / target_tokens))
    if sum(hi for _, hi in bounds.values()) < 1.0:
        raise SpecError(
            f"max_epochs={space.max_epochs} leaves no mixture: the domains hold {dict(tokens_per_domain)} tokens, "
            f"fewer than the target rung's {target_tokens} even when each is repeated {space.max_epochs} times"
        )
    lows = sum(lo for lo, _ in bounds.values())
    if any(lo > hi for lo, hi in bounds.values()) or lows > 1.0:
        raise SpecError(f"bounds leave no mixture summing to 1: {bounds}")
    return {d: b for d, b in bounds.items() if b != (0.0, 1.0)}
