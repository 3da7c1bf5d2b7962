"""Command-line handling shared by `admire-jax train` and `admire-jax validate`.

Gin does the configuring: `--gin_file=` (repeatable), `--preset=NAME` (short for
configs/models/NAME.gin) and `--gin.Binding=value` overrides. Bad input raises UsageError, which
the commands turn into a one-line message and exit code 2.
"""
from __future__ import annotations

import argparse
import functools
import os
from typing import Callable

import gin

CONFIG_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")
TRAIN_DEFAULTS = os.path.join(CONFIG_ROOT, "train", "default.gin")


class UsageError(ValueError):
    """Bad command-line input: reported as a message and exit code 2, never a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit itself; the caller decides
        raise UsageError(message)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description=description, allow_abbrev=False,
                epilog="Any --gin.NAME=VALUE binds a gin parameter, e.g. --gin.TrainConfig.steps=100")
    p.add_argument("--gin_file", action="append", default=[], help="gin file (repeatable)")
    p.add_argument("--preset", help="model preset name: configs/models/NAME.gin")
    p.add_argument("--mesh", default="data=-1,fsdp=1,tensor=1", help="mesh sizes, e.g. data=1,fsdp=8,tensor=1")
    return p


def parse(p: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(flags, gin bindings); `--gin.X=V` and `--gin.X V` both become 'X = V'."""
    args, rest = p.parse_known_args(argv)
    bindings, i = [], 0
    while i < len(rest):
        item = rest[i]
        if not item.startswith("--gin."):
            raise UsageError(f"unrecognised argument {item!r}")
        name, eq, value = item[len("--gin."):].partition("=")
        if not eq:
            if i + 1 >= len(rest):
                raise UsageError(f"{item} needs a value")
            value, i = rest[i + 1], i + 1
        bindings.append(f"{name} = {value}")
        i += 1
    return args, bindings


def preset_file(name: str) -> str:
    path = os.path.join(CONFIG_ROOT, "models", f"{name}.gin")
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(os.path.join(CONFIG_ROOT, "models")) if f.endswith(".gin"))
        raise UsageError(f"unknown preset {name!r}; known presets: {', '.join(known)}")
    return path


def load_gin(args: argparse.Namespace, bindings: list[str], defaults: list[str] = ()) -> None:
    """Parse defaults, the preset, the gin files and the bindings; any gin error is a UsageError."""
    files = list(defaults) + ([preset_file(args.preset)] if args.preset else []) + list(args.gin_file)
    if not args.preset and not args.gin_file:
        raise UsageError("give a model with --preset=NAME or --gin_file=configs/models/NAME.gin")
    for f in files:
        if not os.path.isfile(f):
            raise UsageError(f"gin file not found: {f}")
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(files, bindings, finalize_config=False)
    except Exception as exc:  # gin raises ValueError, KeyError, ImportError, SyntaxError...
        raise UsageError(f"gin configuration error: {exc}") from None


def macro(name: str, default=None):
    """The value of gin macro %name, or `default` when the config does not define it."""
    try:
        return gin.query_parameter(f"%{name}")
    except ValueError:
        return default


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


def clears_gin(command: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """A command's gin bindings belong to it: clear them when it returns, so an embedding process
    (a test, the experiment's trial entry point) is left with none."""

    @functools.wraps(command)
    def run(argv: list[str]) -> int:
        try:
            return command(argv)
        finally:
            gin.clear_config()

    return run
