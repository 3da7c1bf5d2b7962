"""The shape and numerics of a Llama-family decoder, as one gin-configurable record.

Every architectural choice the trainer, the presets and the ahead-of-time validator need lives
here, together with the parameter and FLOP counts derived from it (so that a preset can be sized
and an MFU computed without building the model).
"""

from __future__ import annotations

import dataclasses

import gin
import jax.numpy as jnp

REMAT_POLICIES = ("none", "full", "save_dots")
ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """A decoder-only transformer: RMSNorm, RoPE, SwiGLU, grouped-query attention.

    Attributes:
      vocab_size: rows of the embedding table; must match the tokenizer. The default 384 is the
        project's ByteTokenizer (256 bytes + pad and EOS, padded to a multiple of 128); bind
        `TransformerConfig.vocab_size` to `tokenizer.vocab_size` for any other tokenizer.
      d_model: width of the residual stream.
      num_layers: number of transformer blocks (scanned, parameters stacked on a leading axis).
      num_heads: query heads.
      num_kv_heads: key/value heads (grouped-query attention); must divide `num_heads`.
      head_dim: width of one head; None means d_model // num_heads.
      d_ff: hidden width of the SwiGLU feed-forward block.
      qkv_bias: add biases to the q/k/v projections (Qwen2 style).
      tie_embeddings: reuse the input embedding as the output projection.
      rope_theta: base of the rotary-embedding frequencies.
      rope_scaling: None (plain RoPE) or Llama 3.1's frequency scaling as (factor,
        low_freq_factor, high_freq_factor, original_max_position_embeddings); set by checkpoint
        import (`admire_jax.model.hf`) for Llama 3.1+ checkpoints.
      norm_eps: RMSNorm epsilon.
      init_std: standard deviation of the embedding initialiser.
      dtype: compute dtype (activations, matmul inputs); 'bfloat16' by default.
      param_dtype: dtype parameters are stored (and optimised) in.
      remat: what the backward pass recomputes per layer: 'none', 'full' (everything) or
        'save_dots' (keep the weight matmul outputs, recompute the rest).
      attention: 'auto' picks 'cudnn' on GPU and 'xla' elsewhere; 'xla' / 'cudnn' force one.
      loss_chunk_len: sequence positions per chunk of the chunked cross-entropy; fp32 logits exist
        for one chunk [batch, loss_chunk_len, vocab] at a time.
      scan_unroll: layers per iteration of the layer scan (`lax.scan(unroll=)`); 1 keeps compile
        time flat in depth, larger values trade compile time for less per-layer loop overhead.
    """

    vocab_size: int = 384
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 4
    head_dim: int | None = None
    d_ff: int = 384
    qkv_bias: bool = False
    tie_embeddings: bool = False
    rope_theta: float = 10_000.0
    rope_scaling: tuple[float, float, float, int] | None = None
    norm_eps: float = 1e-6
    init_std: float = 0.02
    dtype: str = "bfloat16"
    param_dtype: str = "float32"
    remat: str = "none"
    attention: str = "auto"
    loss_chunk_len: int = 512
    scan_unroll: int = 1

    def __post_init__(self):
        positive = (
            "vocab_size",
            "d_model",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "d_ff",
            "loss_chunk_len",
            "scan_unroll",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"TransformerConfig.{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}")
        if self.head_dim is None and self.d_model % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide d_model={self.d_model} (or set head_dim)")
        if self.head_dims % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dims}")
        if self.rope_scaling is not None:
            if len(self.rope_scaling) != 4 or any(v <= 0 for v in self.rope_scaling):
                raise ValueError(
                    "rope_scaling must be 4 positive numbers (factor, low_freq_factor, "
                    f"high_freq_factor, original_max_position_embeddings), got "
                    f"{self.rope_scaling}"
                )
            if self.rope_scaling[2] <= self.rope_scaling[1]:
                raise ValueError(f"rope_scaling high_freq_factor must exceed low_freq_factor, got {self.rope_scaling}")
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f"remat={self.remat!r}; expected one of {REMAT_POLICIES}")
        if self.attention not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention={self.attention!r}; expected one of {ATTENTION_IMPLEMENTATIONS}")
        for name in ("dtype", "param_dtype"):
            try:
                jnp.dtype(getattr(self, name))
            except TypeError as e:
                raise ValueError(f"TransformerConfig.{name}={getattr(self, name)!r} is not a dtype") from e

    @property
    def head_dims(self) -> int:
        """The resolved width of one attention head."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.num_heads

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.dtype)

    @property
    def weights_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    def layer_matmul_params(self) -> int:
        """Matmul weights of one transformer block (q, k, v, o and the three SwiGLU matrices)."""
        d, h, k, hd = self.d_model, self.num_heads, self.num_kv_heads, self.head_dims
        return 2 * d * h * hd + 2 * d * k * hd + 3 * d * self.d_ff

    def layer_params(self) -> int:
        """All parameters of one transformer block (matmul weights, q/k/v biases, two norms)."""
        biases = (self.num_heads + 2 * self.num_kv_heads) * self.head_dims if self.qkv_bias else 0
        return self.layer_matmul_params() + biases + 2 * self.d_model

    def non_embedding_params(self) -> int:
        """Parameters excluding the embedding and output matrices (what a preset's name counts)."""
        return self.num_layers * self.layer_params() + self.d_model

    def embedding_params(self) -> int:
        """The input embedding plus, when untied, the output projection."""
        tables = 1 if self.tie_embeddings else 2
        return tables * self.vocab_size * self.d_model

    def total_params(self) -> int:
        return self.non_embedding_params() + self.embedding_params()

    def train_flops_per_token(self, seq_len: int) -> float:
        """Model FLOPs of one training token (forward + backward, no remat recompute).

        6 per matmul weight (the output projection included, the embedding lookup not) plus the
        attention score and value matmuls, 12 * layers * heads * head_dim * seq_len (PaLM, App. B).
        """
        matmul_weights = self.num_layers * self.layer_matmul_params() + self.vocab_size * self.d_model
        attention = 12 * self.num_layers * self.num_heads * self.head_dims * seq_len
        return 6.0 * matmul_weights + attention
