"""Peak throughput and memory of each device kind, and model FLOPs utilisation (MFU).

Model FLOPs come from the model's own count (`ModelSpec.flops_per_token`, computed from the
config), not from XLA's cost analysis, which counts the body of a scanned layer once.
"""

from __future__ import annotations

import jax

# Dense bf16 peak FLOP/s per device as jax reports it (`device.device_kind`), and its memory.
# TPU v4 / v5p run as megacore: one jax device per chip.
PEAK_BF16_FLOPS: dict[str, float] = {
    "TPU v2": 22.5e12,
    "TPU v3": 61.5e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5": 459e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA H100 80GB HBM3": 989e12,
    "NVIDIA H100": 989e12,
    "NVIDIA H200": 989e12,
}

DEVICE_MEMORY_BYTES: dict[str, int] = {
    "TPU v2": 8 << 30,
    "TPU v3": 16 << 30,
    "TPU v4": 32 << 30,
    "TPU v5 lite": 16 << 30,
    "TPU v5e": 16 << 30,
    "TPU v5": 95 << 30,
    "TPU v5p": 95 << 30,
    "TPU v6 lite": 32 << 30,
    "TPU v6e": 32 << 30,
    "NVIDIA A100-SXM4-40GB": 40 << 30,
    "NVIDIA A100-SXM4-80GB": 80 << 30,
    "NVIDIA H100 80GB HBM3": 80 << 30,
    "NVIDIA H100": 80 << 30,
    "NVIDIA H200": 141 << 30,
}


def _lookup(table: dict, device_kind: str):
    """Exact match first, then the longest table key that prefixes `device_kind`."""
    if device_kind in table:
        return table[device_kind]
    prefixes = [k for k in table if device_kind.startswith(k)]
    return table[max(prefixes, key=len)] if prefixes else None


def peak_flops_per_device(device: jax.Device | str) -> float | None:
    """Dense bf16 peak of one device, or None when unknown (e.g. CPUs: measure them instead)."""
    kind = device if isinstance(device, str) else device.device_kind
    return _lookup(PEAK_BF16_FLOPS, kind)


def device_memory_bytes(device: jax.Device | str) -> int | None:
    """Memory of one device: from the runtime when it reports it, else from the table."""
    if not isinstance(device, str):
        try:
            stats = device.memory_stats()
        except Exception:  # topology-only and CPU devices do not report memory
            stats = None
        if stats and "bytes_limit" in stats:
            return int(stats["bytes_limit"])
        device = device.device_kind
    return _lookup(DEVICE_MEMORY_BYTES, device)


def mfu(flops_per_second: float, num_devices: int, peak_per_device: float | None) -> float | None:
    """Model FLOPs utilisation: achieved model FLOP/s over the devices' summed peak."""
    if not peak_per_device:
        return None
    return flops_per_second / (num_devices * peak_per_device)
