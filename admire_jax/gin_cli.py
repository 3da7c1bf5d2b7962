"""The one command-line convention of every `admire-jax` verb, and the one place gin is parsed.

Every command takes `--gin_file=F` (repeatable), `--gin.NAME=VALUE` (repeatable) and
`--gin_search_paths=DIR[,DIR]`, as t5x's `gin_utils` does. A command parses gin once, here, then
builds explicit config objects from it and passes those down; nothing below the command line
clears or re-parses gin (planning a trainer run parses the trainer's files inside `isolated()`,
which gives the command its own configuration back). A gin file (and any `include` inside one) is
found as given, else under each search path, the working directory and the folder holding the
shipped `configs/` (so 'configs/models/1m.gin' names a shipped preset from any folder), in that
order; a user's own 'configs/...' in the working directory comes before the shipped one.

Bad input raises UsageError: the commands print it as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import os
from typing import Any, Callable, Iterator, Sequence

import gin


def _config_root() -> str:
    """The package's `configs/` in an installed wheel, else the repository's top-level `configs/`
    (a source checkout or an editable install, where the package sits at the repository root)."""
    package = os.path.dirname(os.path.abspath(__file__))
    shipped = os.path.join(package, "configs")
    return shipped if os.path.isdir(shipped) else os.path.join(os.path.dirname(package), "configs")


CONFIG_ROOT = _config_root()
"""The shipped gin files: models/ (presets), train/, experiments/, bo/, replay/, data/."""

GIN_PREFIX = "--gin."
_SEARCH_PATHS_ADDED: set[str] = set()  # gin keeps its search paths for the process; add each once


class UsageError(ValueError):
    """Bad command-line input or configuration: one line on stderr and exit code 2, no traceback."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so each command decides how to fail."""

    def error(self, message: str):  # argparse's own error() prints usage and exits
        raise UsageError(message)


def parser(prog: str, description: str) -> ArgumentParser:
    """A command's parser with the gin options every command shares."""
    p = ArgumentParser(
        prog=prog,
        description=description,
        allow_abbrev=False,
        epilog="--gin.NAME=VALUE binds a gin parameter, e.g. --gin.TrainConfig.steps=100",
    )
    p.add_argument("--gin_file", action="append", default=[], help="gin file (repeatable)")
    p.add_argument(
        "--gin_search_paths",
        action="append",
        default=[],
        help="comma-separated folders where gin files and their includes are looked up",
    )
    return p


def parse_args(p: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """(flags, gin bindings): every `--gin.NAME=VALUE` becomes the binding 'NAME = VALUE'."""
    args, rest = p.parse_known_args(list(argv))
    bindings = []
    for item in rest:
        if not item.startswith(GIN_PREFIX):
            raise UsageError(f"unrecognised argument {item!r}")
        name, eq, value = item[len(GIN_PREFIX) :].partition("=")
        if not eq or not name.strip():
            raise UsageError(f"{item!r}: gin bindings are written --gin.NAME=VALUE (one argument)")
        bindings.append(f"{name.strip()} = {value}")
    return args, bindings


def given_search_paths(args: argparse.Namespace) -> list[str]:
    """The folders of `--gin_search_paths`, absolute (a command may store them and run elsewhere)."""
    return [
        os.path.abspath(p.strip())
        for item in getattr(args, "gin_search_paths", [])
        for p in item.split(",")
        if p.strip()
    ]


def search_paths(args: argparse.Namespace) -> list[str]:
    """The folders of `--gin_search_paths`, then the working directory and the shipped configs."""
    return with_default_search_paths(given_search_paths(args))


def with_default_search_paths(paths: Sequence[str]) -> list[str]:
    """`paths`, then the working directory and the shipped configs: their parent folder, where
    'configs/NAME.gin' resolves (the form the docs and the shipped includes use), then the folder
    itself, where 'models/NAME.gin' does."""
    return [*paths, os.getcwd(), os.path.dirname(CONFIG_ROOT), CONFIG_ROOT]


def resolve(path: str, paths: Sequence[str]) -> str:
    """`path` as given when it exists, else the first `paths/path` that exists (absolute)."""
    candidates = [path] if os.path.isabs(path) else [path, *(os.path.join(p, path) for p in paths)]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise UsageError(f"gin file not found: {path} (looked in: {', '.join(paths)})")


def _package_file_exists(path: str) -> bool:
    """Whether 'a/b/f.gin' is the file f.gin of the importable package a.b, answering no quietly
    where gin's own check logs an error (every miss) or raises TypeError (a namespace package, as
    the repository's `configs/` is whenever the repository root is on sys.path): with gin's check,
    an include found only under a later search path would print errors or fail."""
    head, name = os.path.split(path)
    if not head or os.path.isabs(head):
        return False
    try:
        spec = importlib.util.find_spec(head.replace(os.sep, "."))
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    return origin is not None and os.path.isfile(os.path.join(os.path.dirname(origin), name))


def _quiet_package_file_reader() -> None:
    """gin's package-file reader, with `_package_file_exists` as its existence check."""
    from gin import config as gin_config
    from gin import resource_reader

    gin_config._FILE_READERS[:] = [
        (reader, _package_file_exists if exists is resource_reader.system_path_file_exists else exists)
        for reader, exists in gin_config._FILE_READERS
    ]


_quiet_package_file_reader()


def parse_gin(files: Sequence[str], bindings: Sequence[str], paths: Sequence[str] | None = None) -> list[str]:
    """Clear gin and parse `files` (resolved against `paths`, by default the working directory and
    the shipped configs) then `bindings`; returns the files' absolute paths. Any gin error is a
    UsageError naming it."""
    paths = with_default_search_paths(()) if paths is None else paths
    resolved = [resolve(f, paths) for f in files]
    gin.clear_config()
    for p in paths:
        if p not in _SEARCH_PATHS_ADDED:
            gin.add_config_file_search_path(p)
            _SEARCH_PATHS_ADDED.add(p)
    try:
        gin.parse_config_files_and_bindings(resolved, list(bindings), finalize_config=False)
    except Exception as exc:  # gin raises ValueError, KeyError, ImportError, SyntaxError...
        raise UsageError(f"gin configuration error: {exc}") from None
    return resolved


def clears_gin(command: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """A command's gin bindings belong to it: cleared when it returns, so a process that runs it
    in-process (the experiment's trial entry point, a test) is left with none."""

    @functools.wraps(command)
    def run(argv: list[str]) -> int:
        try:
            return command(argv)
        finally:
            gin.clear_config()

    return run


def bound(parameter: str, default: Any = None) -> Any:
    """The value the parsed configuration gives `parameter` ('Name.arg', or '%MACRO'), or `default`
    where it gives none."""
    try:
        return gin.query_parameter(parameter)
    except ValueError:
        return default


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Gin state set inside the block is discarded on exit and the caller's bindings come back.

    The one place where a second configuration is parsed in a process: planning a trainer run
    (`admire_jax.train.plan`) parses the trainer's own gin files while a command's configuration
    is loaded. Gin keeps one global configuration, so this saves and restores it: the bindings,
    the imported modules, the singletons and the operative config (gin has no public API for that)."""
    from gin import config as gin_config

    saved = (
        {key: dict(values) for key, values in gin_config._CONFIG.items()},
        set(gin_config._IMPORTS),
        dict(gin_config._SINGLETONS),
        dict(gin_config._OPERATIVE_CONFIG),
    )
    try:
        yield
    finally:
        gin.clear_config()
        gin_config._CONFIG.update(saved[0])
        gin_config._IMPORTS.update(saved[1])
        gin_config._SINGLETONS.update(saved[2])
        gin_config._OPERATIVE_CONFIG.update(saved[3])


def known_presets() -> list[str]:
    """The model presets: configs/models/NAME.gin."""
    folder = os.path.join(CONFIG_ROOT, "models")
    return sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".gin"))


def preset_file(name: str) -> str:
    """configs/models/NAME.gin, or UsageError listing the presets."""
    if name not in known_presets():
        raise UsageError(f"unknown preset {name!r}; known presets: {', '.join(known_presets())}")
    return os.path.join(CONFIG_ROOT, "models", f"{name}.gin")
