"""Per-device memory of a compiled train step: the compiler's figures, and its out-of-memory text.

`admire-jax validate` reads these to say whether a step fits its target and by how much it misses.
"""

from __future__ import annotations

import re

GIB = 1 << 30
# XLA:TPU's compile-time OOM, e.g. "... required for HLO temporaries (30.96G) exceeds available
# HBM (30.75G)" (the required figure includes the arguments), or the older "Used X of Y hbm".
_OOM = (
    re.compile(r"\(([\d.]+)([KMGT])i?B?\)\s*exceeds available \w+ \(([\d.]+)([KMGT])i?B?\)", re.IGNORECASE),
    re.compile(r"Used\s+([\d.]+)([KMGT]?)\s+of\s+([\d.]+)([KMGT]?)\s+hbm", re.IGNORECASE),
)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def memory_figures(mem, available: int) -> dict:
    """Per-device memory of a compiled step and whether it fits in `available` bytes."""
    # The TPU compiler's peak is close to arguments + temporaries; the CPU compiler reports only the
    # arguments as its peak, so take the larger of its figure and the live-buffer sum.
    live = mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes + mem.temp_size_in_bytes
    peak = max(getattr(mem, "peak_memory_in_bytes", 0), live)
    return {
        "peak_bytes_per_device": int(peak),
        "device_memory_bytes": int(available),
        "fits": bool(peak <= available),
        "argument_bytes_per_device": int(mem.argument_size_in_bytes),
        "temp_bytes_per_device": int(mem.temp_size_in_bytes),
        "output_bytes_per_device": int(mem.output_size_in_bytes),
        "alias_bytes_per_device": int(mem.alias_size_in_bytes),
    }


def compile_oom_message(error: str, available: int) -> str | None:
    """'does not fit: needs X GiB of Y GiB' for a compiler out-of-memory error, else None."""
    match = next(filter(None, (pattern.search(error) for pattern in _OOM)), None)
    if match is not None:
        needed, total = _bytes(*match.group(1, 2)), _bytes(*match.group(3, 4))
        return f"does not fit: needs {needed / GIB:.2f} GiB of {total / GIB:.2f} GiB"
    if "RESOURCE_EXHAUSTED" in error:
        return f"does not fit in {available / GIB:.2f} GiB: {error.strip().splitlines()[0]}"
    return None


def _bytes(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit.upper()]
