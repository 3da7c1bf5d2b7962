"""Building blocks of the decoder: RMSNorm, rotary position embeddings, the SwiGLU MLP.

Parameters are stored in `config.param_dtype` and cast to `config.dtype` at use; every parameter
carries logical axis names (`out_sharding` metadata) that `sharding.LOGICAL_RULES` maps to the mesh.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from admire_jax.model import sharding
from admire_jax.model.config import TransformerConfig

Initializer = Callable[..., jax.Array]


def make_param(
    rngs: nnx.Rngs, init: Initializer, shape: Sequence[int], names: Sequence[str], cfg: TransformerConfig
) -> nnx.Param:
    """A parameter with logical axis names (`out_sharding` metadata).

    Eager sharding is off so that a model builds anywhere, with or without a mesh; placement is
    decided once, from the rules, by `sharding.create_sharded` / `state_shardings` under jit.
    """
    if len(names) != len(shape):
        raise ValueError(f"{len(names)} logical names {tuple(names)} for a shape {tuple(shape)}")
    value = init(rngs.params(), tuple(shape), cfg.weights_dtype)
    return nnx.Param(value, out_sharding=tuple(names), eager_sharding=False)


def fan_in_init(in_axes: int | Sequence[int], out_axes: int | Sequence[int], scale: float = 1.0) -> Initializer:
    """Truncated normal with variance scale/fan_in, fan_in read from the contracted axes."""
    return nnx.initializers.variance_scaling(scale, "fan_in", "truncated_normal", in_axis=in_axes, out_axis=out_axes)


def residual_scale(cfg: TransformerConfig) -> float:
    """Variance scale of the projections that write into the residual stream (GPT-2 style), so
    that the stream's variance stays of order one at any depth."""
    return 1.0 / (2 * cfg.num_layers)


class RMSNorm(nnx.Module):
    """Root-mean-square normalisation with a learned scale, computed in float32."""

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        self.eps = cfg.norm_eps
        self.dtype = cfg.compute_dtype
        self.scale = make_param(rngs, nnx.initializers.ones, (cfg.d_model,), ("norm",), cfg)

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        x = x_BxLxD.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return (x * self.scale[...].astype(jnp.float32)).astype(self.dtype)


def rotary_tables(
    positions_BxL: jax.Array, head_dim: int, theta: float, scaling: tuple[float, float, float, int] | None = None
) -> tuple[jax.Array, jax.Array]:
    """sin and cos [B, L, head_dim/2] (float32) of each token's position.

    `scaling` (factor, low_freq_factor, high_freq_factor, original_context) applies Llama 3.1's
    frequency scaling: wavelengths longer than original_context / low_freq_factor are stretched
    by `factor`, those shorter than original_context / high_freq_factor are kept, and the band
    between is interpolated.
    """
    fraction = jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim
    inv_freq_F = 1.0 / (theta**fraction)
    if scaling is not None:
        factor, low, high, context = scaling
        wavelength_F = 2 * jnp.pi / inv_freq_F
        smooth_F = jnp.clip((context / wavelength_F - low) / (high - low), 0.0, 1.0)
        inv_freq_F = (1 - smooth_F) * inv_freq_F / factor + smooth_F * inv_freq_F
    angle_BxLxF = positions_BxL.astype(jnp.float32)[..., None] * inv_freq_F
    return jnp.sin(angle_BxLxF), jnp.cos(angle_BxLxF)


def apply_rotary(x_BxLxHxK: jax.Array, sin_BxLxF: jax.Array, cos_BxLxF: jax.Array) -> jax.Array:
    """Rotates the two halves of each head's features by the position angles (NeoX/Llama layout)."""
    x = x_BxLxHxK.astype(jnp.float32)
    first, second = jnp.split(x, 2, axis=-1)
    sin, cos = sin_BxLxF[:, :, None, :], cos_BxLxF[:, :, None, :]
    rotated = jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
    return rotated.astype(x_BxLxHxK.dtype)


class SwiGLU(nnx.Module):
    """The feed-forward block: down(silu(x @ gate) * (x @ up))."""

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        d, f = cfg.d_model, cfg.d_ff
        self.dtype = cfg.compute_dtype
        self.gate_DxF = make_param(rngs, fan_in_init(0, 1), (d, f), ("embed", "mlp"), cfg)
        self.up_DxF = make_param(rngs, fan_in_init(0, 1), (d, f), ("embed", "mlp"), cfg)
        self.down_FxD = make_param(rngs, fan_in_init(0, 1, residual_scale(cfg)), (f, d), ("mlp", "embed"), cfg)

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        # gate and up as one [D, 2, F] matmul: one larger product (and one weight-gradient product)
        # instead of two; ~1.15x on the 10m train step on CPU (docs/model.md). Parameters stay apart.
        w_Dx2xF = jnp.stack([self.gate_DxF[...], self.up_DxF[...]], axis=1).astype(self.dtype)
        gate_up_BxLx2xF = jnp.einsum("bld,dtf->bltf", x_BxLxD, w_Dx2xF)
        gate, up = gate_up_BxLx2xF[:, :, 0], gate_up_BxLx2xF[:, :, 1]
        h_BxLxF = sharding.constrain(jax.nn.silu(gate) * up, ("batch", "length", "act_mlp"))
        return jnp.einsum("blf,fd->bld", h_BxLxF, self.down_FxD[...].astype(self.dtype))
