"""The project's transformer (admire_jax.model) as a ModelSpec: the only trainer file that knows it."""
from __future__ import annotations

from flax import nnx

from admire_jax.model import Transformer, TransformerConfig, cross_entropy_loss, sharding
from admire_jax.train.model_spec import Batch, ModelSpec


def transformer_loss(model: Transformer, batch: Batch):
    """(summed next-token loss, token count) of one batch; fp32 logits exist one chunk at a time."""
    h_BxLxD = model(batch["inputs"], batch["positions"], batch["segment_ids"])
    return cross_entropy_loss(model, h_BxLxD, batch["targets"], batch["loss_mask"])


def transformer_spec(config: TransformerConfig, name: str) -> ModelSpec:
    """ModelSpec of a transformer config; `name` is the preset name written to result.json."""

    def make_model(rngs: nnx.Rngs) -> Transformer:
        return Transformer(config, rngs=rngs)

    return ModelSpec(
        name=name,
        make_model=make_model,
        loss_fn=transformer_loss,
        rules=sharding.LOGICAL_RULES,
        non_embedding_params=config.non_embedding_params(),
        flops_per_token=config.train_flops_per_token,
        param_shardings=sharding.state_shardings,
    )
