"""The Llama-family decoder the proxy trainer trains, its loss, and its sharding rules.

from admire_jax.model import TransformerConfig, Transformer, cross_entropy_loss, sharding
"""

from admire_jax.model import sharding
from admire_jax.model.attention import attention_implementation
from admire_jax.model.config import TransformerConfig
from admire_jax.model.loss import cross_entropy_loss
from admire_jax.model.transformer import Transformer

__all__ = ["Transformer", "TransformerConfig", "attention_implementation", "cross_entropy_loss", "sharding"]
