"""The flags `admire-jax train` and `admire-jax validate` add to the common gin options.

`--preset=NAME` is short for configs/models/NAME.gin, read after the trainer's defaults
(configs/train/default.gin) and before any `--gin_file`; `--mesh` sizes the device mesh.
Parsing and gin itself follow `admire_jax.gin_cli`, like every other command.
"""

from __future__ import annotations

import argparse
import os

from admire_jax.gin_cli import CONFIG_ROOT, UsageError, preset_file

TRAIN_DEFAULTS = os.path.join(CONFIG_ROOT, "train", "default.gin")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--preset and --mesh."""
    p.add_argument("--preset", help="model preset name: configs/models/NAME.gin")
    p.add_argument("--mesh", default="data=-1,fsdp=1,tensor=1", help="mesh sizes, e.g. data=1,fsdp=8,tensor=1")


def gin_files(args: argparse.Namespace) -> list[str]:
    """The trainer's defaults, the preset and the `--gin_file`s, in the order gin reads them."""
    if not args.preset and not args.gin_file:
        raise UsageError("give a model with --preset=NAME or --gin_file=configs/models/NAME.gin")
    return [TRAIN_DEFAULTS, *([preset_file(args.preset)] if args.preset else []), *args.gin_file]


def parse_mesh(text: str) -> dict[str, int]:
    """'fsdp=8' -> {'data': 1, 'fsdp': 8, 'tensor': 1}; an unnamed axis is 1, or -1 for data
    when no named axis is -1 ("the rest of the devices")."""
    given: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = (x.strip() for x in part.partition("="))
        if not eq or key not in ("data", "fsdp", "tensor"):
            raise UsageError(f"bad --mesh part {part!r}: expected data=N, fsdp=N or tensor=N")
        try:
            given[key] = int(value)
        except ValueError:
            raise UsageError(f"bad --mesh size {value!r} for {key}: expected an integer") from None
    sizes = {"data": 1 if -1 in given.values() else -1, "fsdp": 1, "tensor": 1, **given}
    if list(sizes.values()).count(-1) > 1 or any(v == 0 or v < -1 for v in sizes.values()):
        raise UsageError(f"--mesh sizes must be positive with at most one -1, got {text!r}")
    return sizes
