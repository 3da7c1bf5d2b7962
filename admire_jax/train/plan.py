"""What one trainer run will be, computed before it runs: its FLOPs, model size and evaluations.

The experiment layer prices its rungs with `plan`, so a FLOP budget and the FLOPs a trial writes
to result.json agree exactly: both come from the same gin files (the trainer's defaults, the
model preset) and bindings, read the way `admire-jax train` reads them.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from admire_jax import gin_cli
from admire_jax.train.flags import TRAIN_DEFAULTS


class PlanError(ValueError):
    """The run's configuration cannot be trained; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """One trainer run as configured, before any training."""

    flops: float  # forward + backward model FLOPs of the whole run
    non_embedding_params: int  # what presets are named by
    evaluations: tuple[str, ...]  # names of the scores the run writes to result.json
    seq_len: int
    global_batch: int
    steps: int
    init_checkpoint: str | None  # Hugging Face folder the run starts from (checked), or None
    instruction_data_dir: str | None  # instruction_data.data_dir as bound for the run
    instruction_validation_fraction: float  # instruction_data.validation_fraction as bound


def plan(preset: str, bindings: Sequence[str]) -> TrialPlan:
    """The run `admire-jax train --preset=PRESET --gin.B ...` would make, for each binding B.

    Parsing the trainer's configuration replaces gin's global state, while the caller (e.g. the
    experiment loader) has its own configuration loaded: the parse happens inside
    `gin_cli.isolated()`, so the caller's bindings are as they were when this returns.
    Raises gin_cli.UsageError when the configuration does not parse, PlanError when it parses
    but cannot be trained (a bad value, an unreadable checkpoint)."""
    from admire_jax.data import configured_tokenizer
    from admire_jax.train.cli import train_options
    from admire_jax.train.trainer import TrainConfig
    from admire_jax.train.transformer_spec import trained_model

    with gin_cli.isolated():
        gin_cli.parse_gin([TRAIN_DEFAULTS, gin_cli.preset_file(preset)], bindings)  # UsageError: bad gin
        try:
            train = TrainConfig()
            model = trained_model(train.init_checkpoint, configured_tokenizer().vocab_size)
            if train.init_checkpoint is not None:  # tensors against config.json (headers only)
                from admire_jax.model.hf import verify_checkpoint

                verify_checkpoint(train.init_checkpoint)
            evaluations = train_options()[1]
            steps = train.total_steps
            data_dir = gin_cli.bound("instruction_data.data_dir")
            fraction = gin_cli.bound("instruction_data.validation_fraction", 0.05)
        except (TypeError, ValueError, OSError) as exc:
            raise PlanError(str(exc)) from None
    flops = model.train_flops_per_token(train.seq_len) * train.seq_len * train.global_batch * steps
    return TrialPlan(
        float(flops),
        int(model.non_embedding_params()),
        tuple(sorted(evaluations)),
        train.seq_len,
        train.global_batch,
        steps,
        train.init_checkpoint,
        data_dir,
        float(fraction),
    )
