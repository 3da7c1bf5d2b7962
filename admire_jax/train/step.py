"""The train step and the evaluation step, jitted with explicit shardings and compiled ahead of time.

Gradient accumulation runs inside the step: the global batch [B, L] is split into `accum_steps`
micro-batches (row i goes to micro-batch i % accum_steps, so each device keeps its own rows and
no data moves), gradients of the summed loss are added up in fp32 under `lax.scan`, and one
update uses their sum divided by the total token count. The step is therefore the same function
of the global batch whatever `accum_steps` is (up to float summation order).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from admire_jax.train.model_spec import Batch, ModelSpec, batch_partition_spec
from admire_jax.train.state import TrainState, sharding_context, split_model

BATCH_KEYS = ("inputs", "targets", "loss_mask", "segment_ids", "positions")
BATCH_DTYPES = {"loss_mask": jnp.float32}


def abstract_batch(spec: ModelSpec, mesh: jax.sharding.Mesh, global_batch: int, seq_len: int):
    """Shapes, dtypes and shardings of one global batch."""
    sharding = jax.sharding.NamedSharding(mesh, batch_partition_spec(spec, mesh))
    return {
        k: jax.ShapeDtypeStruct((global_batch, seq_len), BATCH_DTYPES.get(k, jnp.int32), sharding=sharding)
        for k in BATCH_KEYS
    }


def make_train_step(
    spec: ModelSpec,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    accum_steps: int = 1,
    seed: int = 0,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict]]:
    """The pure train step: (state, global batch) -> (next state, metrics)."""
    graphdef, _, rest = split_model(spec, seed)

    def summed_loss(params: nnx.State, batch: Batch):
        model = nnx.merge(graphdef, params, rest)
        loss_sum, count = spec.loss_fn(model, batch)
        return loss_sum.astype(jnp.float32), count.astype(jnp.float32)

    grad_fn = jax.value_and_grad(summed_loss, has_aux=True)

    def accumulate(params: nnx.State, batch: Batch):
        if accum_steps == 1:
            (loss_sum, count), grads = grad_fn(params, batch)
            return loss_sum, count, jax.tree.map(lambda g: g.astype(jnp.float32), grads)
        micro = jax.tree.map(_micro_batches(accum_steps), batch)

        def body(carry, mb):
            loss_acc, count_acc, grads_acc = carry
            (loss_sum, count), grads = grad_fn(params, mb)
            grads_acc = jax.tree.map(lambda a, g: a + g.astype(jnp.float32), grads_acc, grads)
            return (loss_acc + loss_sum, count_acc + count, grads_acc), None

        zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        (loss_sum, count, grads), _ = jax.lax.scan(body, (0.0, 0.0, zeros), micro)
        return loss_sum, count, grads

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        loss_sum, count, grads = accumulate(state.params, batch)
        denom = jnp.maximum(count, 1.0)
        grads = jax.tree.map(lambda g, p: (g / denom).astype(p.dtype), grads, state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": loss_sum / denom,
            "grad_norm": optax.tree.norm(grads),
            "learning_rate": schedule(state.step),
            "tokens": count,
        }
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

    return train_step


def _micro_batches(accum_steps: int):
    def split(x_BxL: jax.Array) -> jax.Array:
        b, length = x_BxL.shape
        if b % accum_steps:
            raise ValueError(f"global batch {b} is not divisible by accum_steps {accum_steps}")
        x_MxAxL = x_BxL.reshape(b // accum_steps, accum_steps, length)
        return jnp.swapaxes(x_MxAxL, 0, 1)  # [accum_steps, B / accum_steps, L]

    return split


def compile_train_step(
    spec: ModelSpec,
    mesh: jax.sharding.Mesh,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    abstract_state: TrainState,
    shardings: TrainState,
    global_batch: int,
    seq_len: int,
    accum_steps: int = 1,
    seed: int = 0,
) -> jax.stages.Compiled:
    """Lower and compile the train step from shapes only; the state argument is donated."""
    batch = abstract_batch(spec, mesh, global_batch, seq_len)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    with sharding_context(spec, mesh):
        jitted = jax.jit(
            make_train_step(spec, tx, schedule, accum_steps, seed),
            in_shardings=(shardings, jax.tree.map(lambda b: b.sharding, batch)),
            out_shardings=(shardings, replicated),
            donate_argnums=0,
        )
        return jitted.lower(abstract_state, batch).compile()


def compile_eval_step(
    spec: ModelSpec,
    mesh: jax.sharding.Mesh,
    abstract_state: TrainState,
    shardings: TrainState,
    eval_batch: int,
    seq_len: int,
    seed: int = 0,
) -> jax.stages.Compiled:
    """(params, batch) -> (loss_sum, token_count) on one evaluation batch."""
    batch = abstract_batch(spec, mesh, eval_batch, seq_len)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    with sharding_context(spec, mesh):
        graphdef, _, rest = split_model(spec, seed)

        def eval_step(params: nnx.State, batch: Batch):
            loss_sum, count = spec.loss_fn(nnx.merge(graphdef, params, rest), batch)
            return loss_sum.astype(jnp.float32), count.astype(jnp.float32)

        jitted = jax.jit(
            eval_step,
            in_shardings=(shardings.params, jax.tree.map(lambda b: b.sharding, batch)),
            out_shardings=replicated,
        )
        return jitted.lower(abstract_state.params, batch).compile()
