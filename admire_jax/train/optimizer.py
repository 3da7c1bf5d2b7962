"""AdamW with linear warm-up and cosine decay, gradient clipping: the trainer's optax chain.

Gradient accumulation is not an optax wrapper here: the train step sums micro-batch gradients
itself (see step.py), so one optimiser update always sees the gradient of the full global batch.
"""

from __future__ import annotations

import gin
import jax
import optax


@gin.configurable
def learning_rate_schedule(
    total_steps: int,
    learning_rate: float = gin.REQUIRED,
    warmup_steps: int | float = 0.1,
    final_lr_fraction: float = 0.1,
) -> optax.Schedule:
    """Linear warm-up to `learning_rate` over `warmup_steps`, then cosine decay to `final_lr_fraction` of it.

    The first update already moves (rate learning_rate / warmup), so no step is spent at rate 0.

    `warmup_steps` below 1 is a fraction of `total_steps`.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    warmup = int(round(warmup_steps * total_steps)) if warmup_steps < 1 else int(warmup_steps)
    warmup = min(max(warmup, 1), total_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=learning_rate / warmup,
        peak_value=learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=learning_rate * final_lr_fraction,
    )


@gin.configurable
def adamw(
    schedule: optax.Schedule,
    b1: float = 0.9,
    b2: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.1,
    max_grad_norm: float | None = 1.0,
) -> optax.GradientTransformation:
    """Global-norm clipping (skipped when `max_grad_norm` is None) followed by AdamW.

    Weight decay applies to matrices only (ndim >= 2), not to norm scales or biases.
    """
    transforms = []
    if max_grad_norm is not None:
        transforms.append(optax.clip_by_global_norm(max_grad_norm))
    transforms.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, mask=_matrices_only))
    return optax.chain(*transforms)


def _matrices_only(params):
    """Weight-decay mask: True for matrices (embeddings, projections), False for vectors."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)
