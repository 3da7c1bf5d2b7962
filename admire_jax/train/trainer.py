"""The training loop: one model, one mixture, a token budget -> per-domain validation loss and cost.

Every exit path (finished, diverged, preempted, crashed) ends with `result.json` in the run directory.
The data side must be a pure function of the step (`loader.batch(step)`), so resuming from a
checkpoint at step k replays exactly the batches k, k+1, ... an uninterrupted run would see.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import gin
import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from tqdm import tqdm

from admire_jax.train import (
    checkpoint,
    compilation_cache,
    data_fingerprints,
    evaluation,
    flops,
    host_data,
    optimizer,
    preemption,
    result,
    state,
    step,
)
from admire_jax.train.model_spec import ModelSpec, batch_partition_spec


class Loader(Protocol):
    def batch(self, step: int) -> Mapping[str, np.ndarray]:
        """This process's rows of the global batch for `step`: arrays [B / process_count, L]."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How long and how to train; the model, the data and the optimiser are configured apart."""

    global_batch: int
    seq_len: int
    train_tokens: int | None = None  # budget in tokens; or give `steps`
    steps: int | None = None
    accum_steps: int = 1
    seed: int = 0
    eval_every: int = 0  # 0: evaluate only at the end
    eval_batch: int = 8
    checkpoint_every: int = 100  # 0: no checkpoints (a preempted run then has nothing to resume from)
    keep_checkpoints: int = 2
    log_every: int = 1
    progress_bar: bool = True
    init_checkpoint: str | None = None  # Hugging Face checkpoint folder to start from (fine-tuning)

    @property
    def total_steps(self) -> int:
        if self.steps is not None:
            return int(self.steps)
        if self.train_tokens is None:
            raise ValueError("set TrainConfig.train_tokens or TrainConfig.steps")
        return max(1, math.ceil(self.train_tokens / (self.global_batch * self.seq_len)))

    def __post_init__(self):
        for name in (
            "global_batch",
            "seq_len",
            "accum_steps",
            "eval_batch",
            "keep_checkpoints",
            "log_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every < 0:
            raise ValueError(f"TrainConfig.checkpoint_every must be >= 0 (0: off), got {self.checkpoint_every}")
        if self.global_batch % self.accum_steps:
            raise ValueError(f"global_batch {self.global_batch} not divisible by accum_steps {self.accum_steps}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclasses.dataclass
class _Run:
    """What the loop has done so far; becomes result.json."""

    steps: int = 0
    val_loss: dict = dataclasses.field(default_factory=dict)
    status: str = "failed"
    error: str | None = None
    scores: dict = dataclasses.field(default_factory=dict)
    resumable: bool = False  # preempted with a checkpoint of its last step


def train(
    spec: ModelSpec,
    mesh: jax.sharding.Mesh,
    config: TrainConfig,
    loader: Loader,
    validation: Mapping[str, Mapping[str, np.ndarray]],
    run_dir: str,
    mixture: Mapping[str, float],
    peak_flops_per_device: float | None = None,
    evaluations: Mapping[str, Callable[[Any, Any], float]] | None = None,
    tokenizer: Any = None,
    preemption_notice: preemption.PreemptionNotice | None = None,
    fingerprints: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Train (resuming from the latest checkpoint in `run_dir`), evaluate, write and return the result.

    A resumed run reports totals over all its invocations: steps, tokens, FLOPs and wall seconds.
    `evaluations` ({name: fn(model, tokenizer) -> float}) score the final model into "scores".
    Once `preemption_notice` is requested (SIGTERM, where the caller installed it), every process
    stops at the same next step boundary, saves that step's checkpoint and waits for it, and the
    result says status "preempted", "step" k and "resumable" (false when checkpoints are off); the
    command then exits with `admire_jax.train.PREEMPTED_EXIT_CODE` (75) and, run again, resumes.
    `fingerprints` (of the data and tokenizer) are recorded with the checkpoints; resuming with
    others raises data_fingerprints.FingerprintMismatch before anything is trained or written.
    """
    data_fingerprints.check_and_record(run_dir, fingerprints, writer=jax.process_index() == 0)
    start_time = time.time() - result.recorded_wall_seconds(run_dir)
    hits_before = compilation_cache.cache_hits()
    run = _Run()
    per_step_flops = spec.flops_per_step(config.seq_len, config.global_batch)
    writer = jax.process_index() == 0
    log, interrupted = None, None
    try:
        log = _metrics_log(run_dir) if writer else None
        _train_loop(
            spec,
            mesh,
            config,
            loader,
            validation,
            run_dir,
            run,
            log,
            per_step_flops,
            peak_flops_per_device or flops.peak_flops_per_device(jax.devices()[0]),
            evaluations or {},
            tokenizer,
            preemption_notice or preemption.PreemptionNotice(),
        )
    except Exception as exc:  # any failure still ends in a result.json the optimiser can read
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: record, re-raise
        run.status, run.error = "failed", f"interrupted ({type(exc).__name__}) after step {run.steps}"
        interrupted = exc
    finally:
        if log is not None:
            log.close()
    record = result.make_result(
        mixture=mixture,
        preset=spec.name,
        params=spec.non_embedding_params,
        tokens=run.steps * config.global_batch * config.seq_len,
        steps=run.steps,
        wall_seconds=time.time() - start_time,
        flops=run.steps * per_step_flops,
        val_loss=run.val_loss or {d: None for d in validation},
        status=run.status,
        error=run.error,
        compile_cache_hits=compilation_cache.cache_hits() - hits_before,
        **({"scores": run.scores} if evaluations else {}),
        **({"step": run.steps, "resumable": run.resumable} if run.status == "preempted" else {}),
    )
    if writer:
        result.write_result(run_dir, record)
    if run.status == "preempted" and jax.process_count() > 1:
        multihost_utils.sync_global_devices("preempted run's result.json written")  # then all exit
    if interrupted is not None:
        raise interrupted
    return record


def _scores(spec, mesh, params, evaluations, tokenizer, seed) -> dict[str, float]:
    """Each evaluation function applied to the trained model (e.g. exact-match accuracy)."""
    with state.sharding_context(spec, mesh):
        graphdef, _, rest = state.split_model(spec, seed)
        model = nnx.merge(graphdef, params, rest)
        return {name: float(fn(model, tokenizer)) for name, fn in evaluations.items()}


def _batch_shards(sharding: jax.sharding.NamedSharding) -> int:
    """Into how many row blocks a [B, L] batch with this sharding is split."""
    axes = sharding.spec[0] or ()
    axes = (axes,) if isinstance(axes, str) else axes
    return int(np.prod([sharding.mesh.shape[a] for a in axes], dtype=int))


def _metrics_log(run_dir: str):
    from admire_jax.train.metrics_log import MetricsLog

    return MetricsLog(run_dir)


def _train_loop(
    spec, mesh, config, loader, validation, run_dir, run, log, per_step_flops, peak, evaluations, tokenizer, notice
):
    total = config.total_steps
    batch_sharding = jax.sharding.NamedSharding(mesh, batch_partition_spec(spec, mesh))
    shards = _batch_shards(batch_sharding)
    if config.global_batch % (shards * config.accum_steps):
        raise ValueError(
            f"global_batch {config.global_batch} must split into {config.accum_steps} "
            f"micro-batches over {shards} batch shards"
        )
    eval_batch = -(-config.eval_batch // shards) * shards  # every batch shard gets whole rows
    schedule = optimizer.learning_rate_schedule(total)
    tx = optimizer.adamw(schedule)
    abstract, shardings = state.state_shardings(spec, mesh, tx, config.seed)
    ckpt = checkpoint.Checkpointer(
        os.path.join(run_dir, "checkpoints"), config.checkpoint_every or None, config.keep_checkpoints
    )
    try:
        if ckpt.latest_step() is not None:
            train_state = ckpt.restore(abstract)
        else:
            train_state = state.create_state(spec, mesh, tx, shardings, config.seed)
        run.steps = int(train_state.step)
        train_step = step.compile_train_step(
            spec,
            mesh,
            tx,
            schedule,
            abstract,
            shardings,
            config.global_batch,
            config.seq_len,
            config.accum_steps,
            config.seed,
        )
        eval_step = step.compile_eval_step(spec, mesh, abstract, shardings, eval_batch, config.seq_len, config.seed)
        evaluate = lambda params: evaluation.validation_losses(
            eval_step, params, validation, eval_batch, batch_sharding
        )
        bar = tqdm(
            total=total,
            initial=run.steps,
            desc=spec.name,
            unit="step",
            disable=not (config.progress_bar and log is not None),
        )
        tick, tick_step = time.time(), run.steps
        for index in range(run.steps, total):
            if notice.agreed(index):
                run.resumable = ckpt.save_now(index, train_state)
                run.status, run.error = "preempted", preemption.stop_message(index, run.resumable)
                bar.close()
                return
            batch = host_data.global_batch_from_local(loader.batch(index), batch_sharding)
            train_state, metrics = train_step(train_state, batch)
            metrics = {k: float(v) for k, v in metrics.items()}
            number = index + 1
            if not (math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])):
                run.status, run.error = "diverged", f"diverged at step {number}: loss {metrics['loss']}"
                bar.close()
                return
            run.steps = number
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            if ckpt.due(number, total):
                ckpt.save(number, train_state)
            if config.eval_every and number % config.eval_every == 0 and number != total:
                metrics.update({f"val_loss/{d}": v for d, v in evaluate(train_state.params).items()})
            if log is not None and (number % config.log_every == 0 or number == total):
                seconds = time.time() - tick
                tokens_per_s = (number - tick_step) * config.global_batch * config.seq_len / seconds
                flops_per_s = (number - tick_step) * per_step_flops / seconds
                log.write(
                    number,
                    {
                        **metrics,
                        "tokens_per_second": tokens_per_s,
                        "mfu": flops.mfu(flops_per_s, len(mesh.devices.flat), peak),
                    },
                )
                tick, tick_step = time.time(), number
        bar.close()
        run.val_loss = evaluate(train_state.params)
        if evaluations:
            run.scores = _scores(spec, mesh, train_state.params, evaluations, tokenizer, config.seed)
        if log is not None:
            log.write(
                run.steps,
                {
                    **{f"val_loss/{d}": v for d, v in run.val_loss.items()},
                    **{f"score/{k}": v for k, v in run.scores.items()},
                },
            )
        run.status = "ok"
    finally:
        ckpt.close()
