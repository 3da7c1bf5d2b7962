"""NVIDIA compile-only targets for `admire-jax validate`: XLA:GPU compiles for a described GPU.

jax's CUDA plugin (`pip install jax-cuda12-plugin==<jax version>`, the optional `[cuda-aot]`
extra; no NVIDIA driver, CUDA libraries or GPU needed) builds a topology of GPUs from a
description of the device (`target_config`, XLA's GpuTargetConfig as protobuf text), so the
train step can be compiled and its per-device memory read on a CPU-only machine. Checked with
jax 0.10.2 on the project's CPU box (BENCHMARKS.md).
"""

from __future__ import annotations

import os
import re

# What XLA:GPU needs to know about a device: the datasheet figures of each GPU
# (SM count, shared memory, L2, bandwidth, clock, memory, compute capability).
GPU_SPECS: dict[str, dict] = {
    "h100": {
        "name": "NVIDIA H100 80GB HBM3",
        "sm_count": 132,
        "fp32_lanes_per_sm": 128,
        "compute_capability": (9, 0),
        "clock_ghz": 1.98,
        "memory_bytes": 84_929_347_584,
        "memory_bandwidth": 3_352_320_000_000,
        "l2_bytes": 50 << 20,
        "shared_per_sm": 228 << 10,
        "shared_per_block_optin": 227 << 10,
    },
    "a100": {
        "name": "NVIDIA A100-SXM4-80GB",
        "sm_count": 108,
        "fp32_lanes_per_sm": 64,
        "compute_capability": (8, 0),
        "clock_ghz": 1.41,
        "memory_bytes": 81_920 << 20,
        "memory_bandwidth": 2_039_000_000_000,
        "l2_bytes": 40 << 20,
        "shared_per_sm": 164 << 10,
        "shared_per_block_optin": 163 << 10,
    },
}
MAX_GPUS_PER_HOST = 8
_NAME = re.compile(r"^(\d+)x(" + "|".join(GPU_SPECS) + r")$")


def is_gpu_target(topology: str) -> bool:
    """Whether `topology` names an NVIDIA target such as '8xh100' (count x GPU model)."""
    return _NAME.match(topology) is not None


def target_config(gpu: str) -> str:
    """XLA's GpuTargetConfig for `gpu` in protobuf text form (CUDA 12.8, cuDNN 9.8 assumed)."""
    s = GPU_SPECS[gpu]
    major, minor = s["compute_capability"]
    device_info = {
        "threads_per_block_limit": 1024,
        "threads_per_warp": 32,
        "shared_memory_per_block": 48 << 10,
        "shared_memory_per_core": s["shared_per_sm"],
        "threads_per_core_limit": 2048,
        "core_count": s["sm_count"],
        "fpus_per_core": s["fp32_lanes_per_sm"],
        "block_dim_limit_x": 2_147_483_647,
        "block_dim_limit_y": 65_535,
        "block_dim_limit_z": 65_535,
        "memory_bandwidth": s["memory_bandwidth"],
        "l2_cache_size": s["l2_bytes"],
        "clock_rate_ghz": s["clock_ghz"],
        "device_memory_size": s["memory_bytes"],
        "shared_memory_per_block_optin": s["shared_per_block_optin"],
        "registers_per_core_limit": 65_536,
        "registers_per_block_limit": 65_536,
    }
    fields = "\n".join(f"  {k}: {v}" for k, v in device_info.items())
    return (
        f"gpu_device_info {{\n{fields}\n  cuda_compute_capability {{ major: {major} minor: {minor} }}\n}}\n"
        f'platform_name: "CUDA"\ndnn_version_info {{ major: 9 minor: 8 }}\n'
        f"runtime_version {{ major: 12 minor: 8 }}\n"
        f'device_description_str: "{s["name"]}"\n'
    )


def gpu_topology_devices(topology: str) -> list:
    """The devices of e.g. '8xh100' (one host up to 8 GPUs, hosts of 8 beyond), compile-only."""
    match = _NAME.match(topology)
    if match is None:
        raise ValueError(f"not an NVIDIA target: {topology!r} (e.g. 8xh100, 16xa100)")
    count, gpu = int(match.group(1)), match.group(2)
    if count < 1 or (count > MAX_GPUS_PER_HOST and count % MAX_GPUS_PER_HOST):
        raise ValueError(f"{topology}: use 1-{MAX_GPUS_PER_HOST} GPUs or a multiple of {MAX_GPUS_PER_HOST}")
    hosts, per_host = (1, count) if count <= MAX_GPUS_PER_HOST else (count // MAX_GPUS_PER_HOST, MAX_GPUS_PER_HOST)
    # The plugin checks installed CUDA library versions at start-up; compiling needs none of them.
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
    import jax
    from jax.experimental import topologies

    jax.devices()  # starts the backends, which registers the CUDA plugin when it is installed
    try:
        desc = topologies.get_topology_desc(
            platform="cuda", topology=f"1x{hosts}x{per_host}", target_config=target_config(gpu)
        )
    except Exception as exc:
        raise RuntimeError(
            f"cannot build the CUDA target {topology} (is `jax-cuda12-plugin` "
            f"installed, at jax's version, before jax started?): {exc}"
        ) from None
    return list(desc.devices)
