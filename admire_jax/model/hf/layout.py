"""How Hugging Face Llama / Qwen2 checkpoints correspond to `TransformerConfig` and our params.

Both families are the decoder this project implements (RMSNorm, SwiGLU, grouped-query
attention, rotary embeddings on split halves, i.e. HF's `rotate_half` layout, which
`layers.apply_rotary` uses too, so no weight permutation is needed). Qwen2 adds q/k/v biases.
HF stores each linear layer as [out, in] per layer; we store [in, out] with heads split out and
the layers stacked, so each HF tensor is one layer's slice of one of our params after a
transpose and reshape (`kind`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from admire_jax.model.config import TransformerConfig

ARCHITECTURES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
# Tensors some exporters add that carry no weights of ours.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


LLAMA3_ROPE_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


def _rope(hf: Mapping[str, Any], source: str) -> tuple[float, tuple | None]:
    """(rope_theta, rope_scaling) from transformers 4.x (`rope_theta`, `rope_scaling`) or 5.x
    (`rope_parameters`) configs; plain RoPE and Llama 3.1's 'llama3' scaling are supported."""
    params = dict(hf.get("rope_parameters") or {})
    scaling = hf.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        params.update(scaling)  # a 4.x scaling entry beside 5.x defaults: the scaling is meant
    kind = params.get("rope_type", params.get("type"))
    theta = hf.get("rope_theta", params.get("rope_theta"))
    if theta is None:
        raise ValueError(f"{source}: no rope_theta (nor rope_parameters.rope_theta)")
    if kind in (None, "default"):
        return float(theta), None
    if kind != "llama3":
        raise ValueError(f"{source}: rope scaling {kind!r} is not supported (plain RoPE or 'llama3' only)")
    missing = [k for k in LLAMA3_ROPE_KEYS if k not in params]
    if missing:
        raise ValueError(f"{source}: llama3 rope scaling lacks {missing}")
    factor, low, high, context = (params[k] for k in LLAMA3_ROPE_KEYS)
    return float(theta), (float(factor), float(low), float(high), int(context))


def config_from_hf(
    hf: Mapping[str, Any], source: str = "config.json", **overrides: Any
) -> tuple[TransformerConfig, str]:
    """(TransformerConfig, family) of an HF config.json dict; `overrides` set our own fields
    (dtype, remat, attention, loss_chunk_len, ...). ValueError names `source` and the field."""
    archs = hf.get("architectures") or [hf.get("model_type")]
    arch = archs[0]
    if arch not in ARCHITECTURES:
        raise ValueError(f"{source}: architecture {arch!r} is not supported; supported: {sorted(ARCHITECTURES)}")
    family = ARCHITECTURES[arch]
    required = (
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "vocab_size",
        "rms_norm_eps",
    )
    missing = [k for k in required if k not in hf]
    if missing:
        raise ValueError(f"{source}: missing fields {missing}")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"{source}: hidden_act {hf['hidden_act']!r} is not supported (only silu)")
    if family == "llama" and (hf.get("attention_bias") or hf.get("mlp_bias")):
        raise ValueError(f"{source}: attention_bias / mlp_bias are not supported for Llama")
    if family == "qwen2" and hf.get("use_sliding_window"):
        raise ValueError(f"{source}: use_sliding_window=true is not supported")
    rope_theta, rope_scaling = _rope(hf, source)
    d, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    head_dim = hf.get("head_dim")
    fields = dict(
        vocab_size=int(hf["vocab_size"]),
        d_model=d,
        num_layers=int(hf["num_hidden_layers"]),
        num_heads=heads,
        num_kv_heads=int(hf.get("num_key_value_heads") or heads),
        head_dim=None if head_dim in (None, d // heads) else int(head_dim),
        d_ff=int(hf["intermediate_size"]),
        qkv_bias=family == "qwen2",
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        rope_theta=rope_theta,
        rope_scaling=rope_scaling,
        norm_eps=float(hf["rms_norm_eps"]),
    )
    fields.update(overrides)
    try:
        return TransformerConfig(**fields), family
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def config_to_hf(
    cfg: TransformerConfig, family: str, dtype: str = "float32", extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An HF config.json dict for `cfg` (transformers 4.x and 5.x both read it)."""
    names = {v: k for k, v in ARCHITECTURES.items()}
    if family not in names:
        raise ValueError(f"family {family!r} is not one of {sorted(names)}")
    if cfg.qkv_bias != (family == "qwen2"):
        raise ValueError(f"qkv_bias={cfg.qkv_bias} cannot be written as a {family} checkpoint")
    hf = {
        "architectures": [names[family]],
        "model_type": family,
        "hidden_act": "silu",
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dims,
        "vocab_size": cfg.vocab_size,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": cfg.tie_embeddings,
        "torch_dtype": dtype,
        "max_position_embeddings": 4096,
    }
    if family == "llama":
        hf.update(attention_bias=False, mlp_bias=False)
    if cfg.rope_scaling is not None:
        hf["rope_scaling"] = {"rope_type": "llama3", **dict(zip(LLAMA3_ROPE_KEYS, cfg.rope_scaling))}
    hf.update(extra or {})
    return hf


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One HF tensor: where it lives among our params, and how its layout differs.

    kind: 'copy' (same layout), 'transpose' ([out, in] -> [in, out]), 'heads_out'
    ([H*K, D] -> [D, H, K]), 'heads_in' ([D, H*K] -> [H, K, D]), 'heads_bias' ([H*K] -> [H, K]).
    """

    hf_name: str
    path: tuple[str, ...]
    layer: int | None
    kind: str
    hf_shape: tuple[int, ...]


def tensor_specs(cfg: TransformerConfig, family: str) -> list[TensorSpec]:
    """Every HF tensor of a checkpoint of `cfg`, in the order HF lists them."""
    d, f, v = cfg.d_model, cfg.d_ff, cfg.vocab_size
    q, kv = cfg.num_heads * cfg.head_dims, cfg.num_kv_heads * cfg.head_dims
    specs = [TensorSpec("model.embed_tokens.weight", ("embedding_VxD",), None, "copy", (v, d))]
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        attn, mlp = ("blocks", "attention"), ("blocks", "mlp")
        specs += [
            TensorSpec(p + "input_layernorm.weight", ("blocks", "attention_norm", "scale"), i, "copy", (d,)),
            TensorSpec(p + "self_attn.q_proj.weight", attn + ("query_DxHxK",), i, "heads_out", (q, d)),
            TensorSpec(p + "self_attn.k_proj.weight", attn + ("key_DxNxK",), i, "heads_out", (kv, d)),
            TensorSpec(p + "self_attn.v_proj.weight", attn + ("value_DxNxK",), i, "heads_out", (kv, d)),
            TensorSpec(p + "self_attn.o_proj.weight", attn + ("out_HxKxD",), i, "heads_in", (d, q)),
            TensorSpec(p + "post_attention_layernorm.weight", ("blocks", "mlp_norm", "scale"), i, "copy", (d,)),
            TensorSpec(p + "mlp.gate_proj.weight", mlp + ("gate_DxF",), i, "transpose", (f, d)),
            TensorSpec(p + "mlp.up_proj.weight", mlp + ("up_DxF",), i, "transpose", (f, d)),
            TensorSpec(p + "mlp.down_proj.weight", mlp + ("down_FxD",), i, "transpose", (d, f)),
        ]
        if cfg.qkv_bias:
            specs += [
                TensorSpec(p + "self_attn.q_proj.bias", attn + ("query_bias",), i, "heads_bias", (q,)),
                TensorSpec(p + "self_attn.k_proj.bias", attn + ("key_bias",), i, "heads_bias", (kv,)),
                TensorSpec(p + "self_attn.v_proj.bias", attn + ("value_bias",), i, "heads_bias", (kv,)),
            ]
    specs.append(TensorSpec("model.norm.weight", ("final_norm", "scale"), None, "copy", (d,)))
    if not cfg.tie_embeddings:
        specs.append(TensorSpec("lm_head.weight", ("output_DxV",), None, "transpose", (v, d)))
    return specs
