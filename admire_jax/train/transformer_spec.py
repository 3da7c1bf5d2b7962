"""The project's transformer (admire_jax.model) as a ModelSpec: the only trainer file that knows it."""

from __future__ import annotations

import dataclasses

import gin
from flax import nnx

from admire_jax.model import Transformer, TransformerConfig, cross_entropy_loss, sharding
from admire_jax.train.model_spec import Batch, ModelSpec


def transformer_loss(model: Transformer, batch: Batch):
    """(summed next-token loss, token count) of one batch; fp32 logits exist one chunk at a time."""
    h_BxLxD = model(batch["inputs"], batch["positions"], batch["segment_ids"])
    return cross_entropy_loss(model, h_BxLxD, batch["targets"], batch["loss_mask"])


def transformer_spec(config: TransformerConfig, name: str, init_checkpoint: str | None = None) -> ModelSpec:
    """ModelSpec of a transformer config; `name` is the preset name written to result.json.

    With `init_checkpoint` (a Hugging Face checkpoint folder whose config.json matches `config`,
    see `checkpoint_config`) training starts from its weights instead of a random init.
    """

    def make_model(rngs: nnx.Rngs) -> Transformer:
        return Transformer(config, rngs=rngs)

    def load_params(mesh):
        from admire_jax.model.hf import load_hf_checkpoint

        model = load_hf_checkpoint(init_checkpoint, mesh, **_not_in_hf_config(config))
        if model.config != config:
            raise ValueError(f"{init_checkpoint}: checkpoint config {model.config} differs from {config}")
        return nnx.state(model, nnx.Param)

    return ModelSpec(
        name=name,
        make_model=make_model,
        loss_fn=transformer_loss,
        rules=sharding.LOGICAL_RULES,
        non_embedding_params=config.non_embedding_params(),
        flops_per_token=config.train_flops_per_token,
        param_shardings=sharding.state_shardings,
        load_params=load_params if init_checkpoint is not None else None,
    )


def _not_in_hf_config(config: TransformerConfig) -> dict:
    """The numerics a HF config.json does not describe, taken from the gin-bound config."""
    return {
        "dtype": config.dtype,
        "remat": config.remat,
        "attention": config.attention,
        "loss_chunk_len": config.loss_chunk_len,
        "scan_unroll": config.scan_unroll,
    }


def checkpoint_config(init_checkpoint: str, configured: TransformerConfig) -> TransformerConfig:
    """The checkpoint's architecture (its vocabulary included) with the configured numerics."""
    from admire_jax.model.hf import read_config

    return read_config(init_checkpoint, **_not_in_hf_config(configured))[0]


def configured_model(tokenizer_vocab: int) -> TransformerConfig:
    """The gin-bound TransformerConfig with the tokenizer's vocabulary, unless
    `TransformerConfig.vocab_size` is bound (then it must hold the tokenizer's vocabulary)."""
    config = TransformerConfig()
    try:
        gin.query_parameter("TransformerConfig.vocab_size")
    except ValueError:
        return dataclasses.replace(config, vocab_size=tokenizer_vocab)
    if config.vocab_size < tokenizer_vocab:
        raise ValueError(
            f"TransformerConfig.vocab_size={config.vocab_size} is smaller than the "
            f"tokenizer's vocabulary ({tokenizer_vocab})"
        )
    return config


def trained_model(init_checkpoint: str | None, tokenizer_vocab: int) -> TransformerConfig:
    """The architecture a run trains: the checkpoint's (its vocabulary wins) when it starts from
    one, else the gin-bound config with the tokenizer's vocabulary."""
    if init_checkpoint is None:
        return configured_model(tokenizer_vocab)
    return checkpoint_config(init_checkpoint, TransformerConfig())
