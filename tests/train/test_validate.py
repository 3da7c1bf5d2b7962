"""`admire-jax validate`: ahead-of-time compilation of large presets from shapes only."""

from __future__ import annotations

import importlib.util
import json

import pytest

from admire_jax.train import gpu_targets, validate

GIB = 1 << 30


def test_7b_on_simulated_8_device_mesh_reports_json(capsys):
    code = validate.main(
        [
            "--preset=7b",
            "--mesh=data=1,fsdp=8,tensor=1",
            "--per_device_batch=1",
            "--seq_len=2048",
            "--json",
            "--device_memory_gib=64",
        ]
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(report) == {"params", "peak_bytes_per_device", "device_memory_bytes", "fits", "flops_per_step", "target"}
    assert 6.5e9 < report["params"] < 7.5e9
    # fp32 params + two Adam moments, split 8 ways, is a lower bound on each device's memory
    assert report["peak_bytes_per_device"] > 12 * 6.9e9 / 8
    assert report["device_memory_bytes"] == 64 * GIB
    assert report["fits"] is True and code == 0
    # 8 sequences of 2048 tokens; 6N alone is 6 * 7e9 * 8 * 2048
    assert 6 * 6.9e9 * 8 * 2048 < report["flops_per_step"] < 1.2 * 6 * 7.1e9 * 8 * 2048
    assert report["target"] == "cpu x8"


def test_too_small_device_says_does_not_fit(capsys):
    code = validate.main(
        [
            "--preset=1m",
            "--mesh=data=1",
            "--devices=1",
            "--per_device_batch=1",
            "--seq_len=64",
            "--device_memory_gib=0.0001",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "does not fit: needs" in out and "GiB of 0.00 GiB" in out


def test_compiler_oom_text_becomes_a_short_message():
    text = (
        "RESOURCE_EXHAUSTED: E1000: CompileTimeHbmOom: Ran out of memory on HBM, the total memory "
        "required for HLO temporaries (30.96G) exceeds available HBM (30.75G). HLO module: jit_train_step."
    )
    assert validate.compile_oom_message(text, 32 * GIB) == "does not fit: needs 30.96 GiB of 30.75 GiB"
    assert validate.compile_oom_message("INVALID_ARGUMENT: shapes", GIB) is None


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--preset=9m"], "unknown preset '9m'"),
        (["--preset=1m", "--gin.TransformerConfig.d_modle=8"], "gin configuration error"),
        (["--preset=1m", "--mesh=data=3,fsdp=4"], "mesh"),
        (["--preset=1m", "--topology=v9-8"], "unknown --topology"),
        (["--preset=1m", "--topology=12xh100"], "multiple of 8"),
        (["--preset=1m", "--frobnicate"], "unrecognised argument"),
        ([], "--preset"),
    ],
)
def test_bad_input_is_exit_2_with_a_message(capsys, argv, expected):
    assert validate.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def _cuda_plugin_installed() -> bool:
    try:
        return importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
    except ModuleNotFoundError:  # no jax plugin at all
        return False


CUDA_PLUGIN = _cuda_plugin_installed()


@pytest.mark.skipif(not CUDA_PLUGIN, reason="jax-cuda12-plugin is not installed (the `test` extra installs it)")
def test_gpu_target_compiles_without_a_gpu(capsys):
    """8xh100 compiles on this CPU-only machine through jax's CUDA plugin, sharded 8 ways."""
    code = validate.main(
        ["--preset=1m", "--mesh=fsdp=8", "--topology=8xh100", "--per_device_batch=1", "--seq_len=64", "--json"]
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and report["target"] == "8xh100" and report["fits"] is True
    assert report["device_memory_bytes"] == 80 * GIB  # an H100's memory
    assert 0 < report["peak_bytes_per_device"] < 64 << 20  # a 1m model's state and a 64-token batch


def test_gpu_target_without_the_plugin_names_it(monkeypatch, capsys):
    """Where the CUDA target cannot be built (no plugin), the error names the plugin to install."""
    from jax.experimental import topologies

    def no_cuda(*args, **kwargs):
        raise RuntimeError("Unknown backend cuda")

    monkeypatch.setattr(topologies, "get_topology_desc", no_cuda)
    code = validate.main(
        ["--preset=1m", "--mesh=fsdp=8", "--topology=8xh100", "--per_device_batch=1", "--seq_len=64", "--json"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "jax-cuda12-plugin" in err and "Unknown backend cuda" in err and "Traceback" not in err


def test_gpu_target_config_describes_the_device():
    text = gpu_targets.target_config("a100")
    assert "core_count: 108" in text and "major: 8 minor: 0" in text
    assert 'device_description_str: "NVIDIA A100-SXM4-80GB"' in text
    assert gpu_targets.is_gpu_target("16xa100") and not gpu_targets.is_gpu_target("v5p-8")


def test_accelerator_targets_compile_xla_attention_not_the_cpu_blocked_one():
    """'auto' attention resolves against the running CPU backend (query-blocked attention);
    an accelerator target (TPU topology or GPU) must be compiled as that target runs it."""
    from admire_jax.model import TransformerConfig
    from admire_jax.model.attention import attention_query_block

    auto = TransformerConfig(vocab_size=256, d_model=64, num_layers=1, num_heads=2, num_kv_heads=2, d_ff=128)
    assert attention_query_block(auto.attention) is not None  # on this CPU 'auto' blocks queries
    for topology in ("v5p-8", "8xh100"):
        target = validate.config_for_target(auto, topology)
        assert target.attention == "xla" and attention_query_block(target.attention) is None
    assert validate.config_for_target(auto, None).attention == "auto"  # the simulated CPU mesh
    forced = TransformerConfig(
        vocab_size=256, d_model=64, num_layers=1, num_heads=2, num_kv_heads=2, d_ff=128, attention="cudnn"
    )
    assert validate.config_for_target(forced, "8xh100").attention == "cudnn"
