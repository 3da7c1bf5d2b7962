"""Hugging Face checkpoint import/export: parity with transformers, round trip, sharded
streaming onto an 8-device mesh, and bad input."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import nnx
from safetensors.torch import load_file, save_file

from admire_jax.model import sharding
from admire_jax.model.hf import checkpoint as hf_checkpoint
from admire_jax.model.hf import config_from_hf, load_hf_checkpoint, save_hf_checkpoint
from admire_jax.model.layers import apply_rotary, rotary_tables


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_checkpoints):
    out = tmp_path_factory.mktemp("tiny")
    make = tiny_checkpoints.make_checkpoint
    return {
        "llama-s": make("llama", "s", out / "llama-s"),
        "qwen2-s": make("qwen2", "s", out / "qwen2-s"),
        "qwen2-l": make("qwen2", "l", out / "qwen2-l", max_shard_size="100KB"),
    }


TOKENS_BxL = np.random.default_rng(0).integers(0, 128, (2, 12))  # < every vocab here


def _hf_logits(folder):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor(TOKENS_BxL)).logits.numpy()


def _our_logits(model):
    return np.asarray(model.logits(model(jnp.asarray(TOKENS_BxL))))


@pytest.mark.parametrize("name", ["llama-s", "qwen2-l"])
def test_logits_match_transformers(tiny, name):
    model = load_hf_checkpoint(tiny[name], dtype="float32")
    assert model.config.qkv_bias == name.startswith("qwen2")
    assert model.config.tie_embeddings == name.startswith("qwen2")
    want = _hf_logits(tiny[name])
    np.testing.assert_allclose(_our_logits(model), want, atol=1e-4, rtol=0)
    assert np.abs(want).max() > 0.5  # the comparison is not between near-zero numbers


def test_rotary_convention_is_hf_rotate_half():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    x = np.random.default_rng(1).normal(size=(1, 5, 2, 8)).astype(np.float32)  # B L H K
    positions = jnp.arange(5)[None]
    sin, cos = rotary_tables(positions, 8, 10_000.0)
    ours = np.asarray(apply_rotary(jnp.asarray(x), sin, cos))
    cos_hf = torch.tensor(np.concatenate([cos, cos], -1))  # HF repeats the angles over halves
    sin_hf = torch.tensor(np.concatenate([sin, sin], -1))
    q = torch.tensor(x).transpose(1, 2)  # HF is [B, H, L, K]
    theirs, _ = apply_rotary_pos_emb(q, q, cos_hf, sin_hf)
    np.testing.assert_allclose(ours, theirs.transpose(1, 2).numpy(), atol=1e-6)


@pytest.mark.parametrize("name,shard", [("llama-s", None), ("qwen2-l", 50_000)])
def test_export_round_trip_equals_original(tiny, tmp_path, name, shard):
    model = load_hf_checkpoint(tiny[name], dtype="float32")
    family = name.split("-")[0]
    out = save_hf_checkpoint(model, tmp_path / "out", family, max_shard_bytes=shard)
    original = {}
    for f in sorted(tiny[name].glob("*.safetensors")):
        original.update(load_file(f))
    exported = {}
    for f in sorted(out.glob("*.safetensors")):
        exported.update(load_file(f))
    assert (out / "model.safetensors.index.json").is_file() == (shard is not None)
    assert sorted(exported) == sorted(original)
    for k in original:
        torch.testing.assert_close(exported[k], original[k], rtol=0, atol=0)
    np.testing.assert_allclose(_hf_logits(out), _hf_logits(tiny[name]), atol=1e-5)


def test_streams_onto_an_8_device_mesh(tiny, monkeypatch):
    reads = []
    real = hf_checkpoint.read_shard

    def recording(hf_tensor, spec, *args):
        out = real(hf_tensor, spec, *args)
        reads.append((spec.hf_name, out.size, int(np.prod(spec.hf_shape))))
        return out

    monkeypatch.setattr(hf_checkpoint, "read_shard", recording)
    mesh = sharding.make_mesh(data=1, fsdp=2, tensor=4)
    model = load_hf_checkpoint(tiny["qwen2-l"], mesh, dtype="float32")
    params = nnx.state(model, nnx.Param)
    want = sharding.state_shardings(params, mesh)
    for (path, v), (_, s) in zip(nnx.to_flat_state(params), nnx.to_flat_state(want)):
        assert v.get_value().sharding.is_equivalent_to(s.get_value(), v.ndim), path
    embed = params["embedding_VxD"].get_value()
    assert len({d for s in embed.addressable_shards for d in [s.device]}) == 8
    assert embed.addressable_shards[0].data.shape == (384 // 4, 96 // 2)
    # Each read is one shard of one layer: the embedding is never read whole.
    embed_reads = [size for name, size, full in reads if name == "model.embed_tokens.weight"]
    assert embed_reads and max(embed_reads) == 384 * 96 // 8
    with jax.set_mesh(mesh):
        sharded_logits = _our_logits(model)
    np.testing.assert_allclose(sharded_logits, _hf_logits(tiny["qwen2-l"]), atol=1e-4)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_shape_mismatch_names_file_and_tensor(tiny, tmp_path):
    folder = _copy(tiny["llama-s"], tmp_path / "bad")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["intermediate_size"] = 80
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        ValueError,
        match=r"model\.safetensors: tensor 'model\.layers\.0\.mlp\."
        r"gate_proj\.weight' has shape \[64, 32\], but .*config\.json implies "
        r"\[80, 32\]",
    ):
        load_hf_checkpoint(folder)


def test_missing_tensor_names_it(tiny, tmp_path):
    folder = _copy(tiny["llama-s"], tmp_path / "bad")
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.0.self_attn.k_proj.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"'model\.layers\.0\.self_attn\.k_proj\.weight'.* "
        "missing",
    ):
        load_hf_checkpoint(folder)
    tensors["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(16, 32)
    tensors["model.extra.weight"] = tensors["model.norm.weight"].clone()
    save_file({k: v.contiguous() for k, v in tensors.items()}, folder / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"model\.safetensors: tensor 'model\.extra\.weight' "
        "has no place",
    ):
        load_hf_checkpoint(folder)
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file"):
        load_hf_checkpoint(folder)


def test_unknown_architecture_and_rope_scaling_are_refused(tiny, tmp_path):
    folder = _copy(tiny["llama-s"], tmp_path / "bad")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(
        ValueError,
        match=r"config\.json: architecture 'GPT2LMHeadModel' is not "
        "supported",
    ):
        load_hf_checkpoint(folder)
    with pytest.raises(ValueError, match="rope scaling 'yarn' is not supported"):
        config_from_hf({**cfg, "rope_scaling": {"rope_type": "yarn", "factor": 8.0}})
    with pytest.raises(ValueError, match=r"llama3 rope scaling lacks \['low_freq_factor'"):
        config_from_hf({**cfg, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})


def test_config_fields_of_a_qwen25_style_config():
    hf = {
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "rope_theta": 1_000_000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "vocab_size": 151936,
        "hidden_act": "silu",
        "use_sliding_window": False,
    }
    cfg, family = config_from_hf(hf, dtype="bfloat16")
    assert family == "qwen2"
    assert (cfg.d_model, cfg.d_ff, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads) == (896, 4864, 24, 14, 2)
    assert cfg.head_dims == 64 and cfg.qkv_bias and cfg.tie_embeddings
    assert cfg.rope_theta == 1e6 and cfg.norm_eps == 1e-6 and cfg.vocab_size == 151936
    assert cfg.dtype == "bfloat16"
    # Qwen2.5-0.5B has 494 M parameters; the count follows from the mapped config alone.
    assert abs(cfg.total_params() - 494_032_768) == 0


def test_script_makes_three_sizes(tmp_path, tiny_checkpoints):
    assert tiny_checkpoints.main([str(tmp_path), "--families", "qwen2"]) == 0
    params = []
    for size in ("s", "m", "l"):
        folder = tmp_path / f"qwen2-{size}"
        assert (folder / "tokenizer.json").is_file() and (folder / "tokenizer_config.json").is_file()
        cfg, family = hf_checkpoint.read_config(folder)
        assert family == "qwen2" and cfg.vocab_size == 384
        params.append(cfg.total_params())
    assert params == sorted(params) and len(set(params)) == 3
    assert (tmp_path / "qwen2-l" / "model.safetensors.index.json").is_file()


def test_bfloat16_checkpoints_load_and_export(tiny, tmp_path):
    model = load_hf_checkpoint(tiny["qwen2-s"], dtype="float32")
    out = save_hf_checkpoint(model, tmp_path / "bf16", "qwen2", dtype="bfloat16")
    stored = load_file(out / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.bfloat16}
    reloaded = load_hf_checkpoint(out, dtype="float32")
    original = load_file(tiny["qwen2-s"] / "model.safetensors")
    want = original["model.layers.0.mlp.up_proj.weight"].bfloat16().float().numpy().T
    got = np.asarray(reloaded.blocks.mlp.up_DxF[...][0])
    np.testing.assert_array_equal(got, want)
    assert reloaded.embedding_VxD[...].dtype == jnp.float32  # params keep param_dtype


def test_explicit_head_dim_matches_transformers(tmp_path):
    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        rope_theta=500.0,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    model = load_hf_checkpoint(tmp_path, dtype="float32")
    assert model.config.head_dims == 16 and model.config.rope_theta == 500.0
    np.testing.assert_allclose(_our_logits(model), _hf_logits(tmp_path), atol=1e-4)


def test_host_memory_stays_far_below_one_copy(tmp_path):
    import tracemalloc

    config = transformers.LlamaConfig(
        vocab_size=8192,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    checkpoint_bytes = sum(f.stat().st_size for f in tmp_path.glob("*.safetensors"))
    mesh = sharding.make_mesh(data=1, fsdp=2, tensor=4)
    tracemalloc.start()  # numpy buffers are traced; device buffers are not host copies we make
    try:
        model = load_hf_checkpoint(tmp_path, mesh, dtype="float32")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert checkpoint_bytes > 20e6
    # Measured ~3-4 MB (a 1 MB shard, tracing); reading a whole parameter first gave 13.6 MB.
    assert peak < 0.25 * checkpoint_bytes, (peak, checkpoint_bytes)
    assert model.output_DxV[...].addressable_shards[0].data.shape == (128, 2048)


def test_llama31_rope_scaling_matches_transformers(tmp_path):
    rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
        "rope_theta": 10_000.0,
    }
    config = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        rope_scaling=rope,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path / "in")
    model = load_hf_checkpoint(tmp_path / "in", dtype="float32")
    assert model.config.rope_scaling == (8.0, 1.0, 4.0, 64)
    tokens = np.random.default_rng(3).integers(0, 128, (1, 40))
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "in", dtype=torch.float32)
    with torch.no_grad():
        want = ref(torch.tensor(tokens), position_ids=torch.arange(40)[None] * 5).logits.numpy()
    positions = jnp.arange(40)[None] * 5  # reach wavelengths the scaling changes
    got = np.asarray(model.logits(model(jnp.asarray(tokens), positions)))
    np.testing.assert_allclose(got, want, atol=1e-4)
    plain = load_hf_checkpoint(tmp_path / "in", dtype="float32", rope_scaling=None)
    assert np.abs(np.asarray(plain.logits(plain(jnp.asarray(tokens), positions))) - want).max() > 1e-3
    out = save_hf_checkpoint(model, tmp_path / "out", "llama")  # written back, read by transformers
    again = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_allclose(
            again(torch.tensor(tokens), position_ids=torch.arange(40)[None] * 5).logits.numpy(), want, atol=1e-5
        )
