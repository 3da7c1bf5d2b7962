"""Hugging Face checkpoints (Llama, Qwen2) in and out of the project's Transformer.

from admire_jax.model.hf import load_hf_checkpoint, save_hf_checkpoint, read_config
model = load_hf_checkpoint("Qwen2.5-0.5B/", mesh, dtype="bfloat16")
"""

from admire_jax.model.hf.checkpoint import load_hf_checkpoint, read_config, save_hf_checkpoint, verify_checkpoint
from admire_jax.model.hf.layout import ARCHITECTURES, config_from_hf, config_to_hf

__all__ = [
    "ARCHITECTURES",
    "config_from_hf",
    "config_to_hf",
    "load_hf_checkpoint",
    "read_config",
    "save_hf_checkpoint",
    "verify_checkpoint",
]
