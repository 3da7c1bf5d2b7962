"""Presets match their names (non-embedding parameters) and parse as gin; configs validate."""

import pathlib

import gin
import jax
import numpy as np
import pytest
from flax import nnx

from admire_jax.data import ByteTokenizer
from admire_jax.gin_cli import CONFIG_ROOT
from admire_jax.model import Transformer, TransformerConfig

PRESETS = {"1m": 1e6, "10m": 1e7, "60m": 6e7, "150m": 1.5e8, "410m": 4.1e8, "1b": 1e9, "3b": 3e9, "7b": 7e9}
CONFIG_DIR = pathlib.Path(CONFIG_ROOT) / "models"
EMBEDDING_PARAMS = ("embedding_VxD", "output_DxV")


def load_preset(name: str) -> tuple[TransformerConfig, dict]:
    gin.clear_config()
    try:
        gin.parse_config_file(str(CONFIG_DIR / f"{name}.gin"))
        macros = {
            m: gin.query_parameter(f"%{m}")
            for m in ("PRESET", "LEARNING_RATE", "GLOBAL_BATCH", "SEQ_LEN", "TRAIN_TOKENS")
        }
        return TransformerConfig(), macros
    finally:
        gin.clear_config()


def abstract_param_counts(cfg: TransformerConfig) -> tuple[int, int]:
    """(non-embedding, total) parameter counts of the model built from shapes only."""
    model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    params = nnx.state(model, nnx.Param)
    flat = {".".join(map(str, path)): v for path, v in nnx.to_flat_state(params)}
    assert all(isinstance(v.get_value(), jax.ShapeDtypeStruct) for v in flat.values())
    total = sum(int(np.prod(v.shape)) for v in flat.values())
    embedding = sum(int(np.prod(v.shape)) for k, v in flat.items() if k in EMBEDDING_PARAMS)
    return total - embedding, total


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_matches_its_name_without_allocating(name):
    cfg, macros = load_preset(name)
    non_embedding, total = abstract_param_counts(cfg)
    assert abs(non_embedding / PRESETS[name] - 1) < 0.15, (name, non_embedding)
    assert non_embedding == cfg.non_embedding_params()
    assert total == cfg.total_params()
    assert macros["PRESET"] == name
    assert macros["TRAIN_TOKENS"] == int(20 * PRESETS[name])
    assert macros["SEQ_LEN"] > 0 and macros["GLOBAL_BATCH"] > 0 and 0 < macros["LEARNING_RATE"] < 0.1


def test_presets_grow_and_learning_rates_shrink_with_size():
    configs = [load_preset(name) for name in PRESETS]
    sizes = [cfg.non_embedding_params() for cfg, _ in configs]
    rates = [macros["LEARNING_RATE"] for _, macros in configs]
    assert sizes == sorted(sizes) and rates == sorted(rates, reverse=True)


def test_vocab_size_defaults_to_the_byte_tokenizer_and_is_overridable():
    assert TransformerConfig().vocab_size == ByteTokenizer().vocab_size == 384
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings([str(CONFIG_DIR / "1m.gin")], ["TransformerConfig.vocab_size = 512"])
        cfg = TransformerConfig()
    finally:
        gin.clear_config()
    assert cfg.vocab_size == 512 and cfg.d_model == 128
    assert cfg.embedding_params() == 2 * 512 * 128


def test_tied_embeddings_and_qkv_bias_counts():
    cfg = TransformerConfig(tie_embeddings=True, qkv_bias=True, num_kv_heads=2)
    non_embedding, total = abstract_param_counts(cfg)
    assert non_embedding == cfg.non_embedding_params()
    assert total == cfg.total_params() == non_embedding + cfg.vocab_size * cfg.d_model


def test_flops_per_token_counts_weights_and_attention():
    cfg = TransformerConfig()
    weights = cfg.num_layers * cfg.layer_matmul_params() + cfg.vocab_size * cfg.d_model
    assert cfg.train_flops_per_token(0) == 6 * weights
    assert cfg.train_flops_per_token(100) - cfg.train_flops_per_token(0) == (
        12 * cfg.num_layers * cfg.num_heads * cfg.head_dims * 100
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(num_heads=4, num_kv_heads=3), "num_kv_heads"),
        (dict(d_model=130, num_heads=4), "must divide d_model"),
        (dict(remat="some"), "remat"),
        (dict(attention="flash"), "attention"),
        (dict(dtype="bfloat17"), "dtype"),
        (dict(num_layers=0), "num_layers"),
        (dict(head_dim=7), "even"),
    ],
)
def test_invalid_configs_name_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**bad)
