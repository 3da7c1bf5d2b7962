"""`admire-jax validate`: ahead-of-time compilation of large presets from shapes only."""

from __future__ import annotations

import importlib.util
import json

import pytest

from admire_jax.train import compiled_memory, gpu_targets, validate

GIB = compiled_memory.GIB


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
    assert set(report) == {
        "params",
        "peak_bytes_per_device",
        "device_memory_bytes",
        "fits",
        "flops_per_step",
        "target",
        "global_batch",
        "per_device_batch",
        "accum_steps",
    }
    assert (report["global_batch"], report["per_device_batch"], report["accum_steps"]) == (8, 1, 1)
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


def _report(capsys, argv: list[str]) -> tuple[int, dict]:
    code = validate.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# 1m with 4 sequences per step on one device (accumulation counts 1, 2, 4): few compilations, and
# 256-token sequences, whose activations outweigh the model's state
SMALL_STEP = ["--preset=1m", "--mesh=data=1", "--devices=1", "--gin.GLOBAL_BATCH=4"]


@pytest.mark.slow
def test_without_a_batch_the_smallest_accumulation_count_that_fits_is_reported(capsys):
    """Given a memory between the figures at 1 and 2 micro-batches, validate answers with 2."""
    peaks = {}
    for count in (1, 2):
        code, report = _report(capsys, [*SMALL_STEP, f"--accum_steps={count}"])
        assert code == 0 and report["accum_steps"] == count and report["per_device_batch"] == 4
        peaks[count] = report["peak_bytes_per_device"]
    assert peaks[1] > peaks[2]  # activations shrink with the micro-batch
    memory = f"--device_memory_gib={(peaks[1] + peaks[2]) / 2 / GIB}"

    assert validate.main([*SMALL_STEP, memory]) == 0
    out = capsys.readouterr().out
    assert "batch 4 x 256 (4 per device; accum_steps 2: micro-batches of 2)" in out
    assert "fits with accum_steps=2, the smallest" in out and "--gin.TrainConfig.accum_steps=2" in out
    # a per-device batch without --accum_steps is measured at one micro-batch: here it does not fit
    code, report = _report(capsys, [*SMALL_STEP, memory, "--per_device_batch=4"])
    assert code == 1 and report["accum_steps"] == 1 and report["peak_bytes_per_device"] == peaks[1]


def test_where_no_count_fits_the_largest_is_reported(capsys):
    assert validate.main([*SMALL_STEP, "--device_memory_gib=0.0001"]) == 1
    out = capsys.readouterr().out
    assert "does not fit: needs" in out and "even with accum_steps=4 (micro-batches of 1 per device)" in out


@pytest.mark.slow
def test_7b_on_8_way_fsdp_answers_with_a_count_that_fits(capsys):
    """The preset's 1024 sequences over fsdp=8 are 128 per device: about 350 GiB at one
    micro-batch. On 80 GiB devices (an H100's memory) validate names the count that fits (that it is
    the smallest is the search's part: tests/train/test_accumulation_search.py)."""
    argv = ["--gin_file=configs/models/7b.gin", "--mesh=data=1,fsdp=8,tensor=1", "--device_memory_gib=80"]
    code, report = _report(capsys, argv)
    assert code == 0 and report["fits"] is True
    assert (report["global_batch"], report["per_device_batch"]) == (1024, 128)
    assert 1 < report["accum_steps"] < 128 and report["peak_bytes_per_device"] <= 80 * GIB


def test_compiler_oom_text_becomes_a_short_message():
    text = (
        "RESOURCE_EXHAUSTED: E1000: CompileTimeHbmOom: Ran out of memory on HBM, the total memory "
        "required for HLO temporaries (30.96G) exceeds available HBM (30.75G). HLO module: jit_train_step."
    )
    assert compiled_memory.compile_oom_message(text, 32 * GIB) == "does not fit: needs 30.96 GiB of 30.75 GiB"
    assert compiled_memory.compile_oom_message("INVALID_ARGUMENT: shapes", GIB) is None


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
        (["--preset=1m", "--mesh=data=1", "--devices=1", "--accum_steps=3"], "--accum_steps=3 does not split 32"),
        (["--preset=1m", "--mesh=fsdp=8", "--gin.GLOBAL_BATCH=12"], "global batch 12 does not split over 8"),
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
