"""A persistent JAX compilation cache, so repeated proxy runs of one preset compile once."""

from __future__ import annotations

import os

import gin
import jax

from admire_jax.train import run_files


@gin.configurable
def enable_compilation_cache(
    directory: str | None = "~/.cache/admire_jax/jax_compilation_cache",
    min_compile_seconds: float = 0.0,
) -> str | None:
    """Point jax's persistent cache at `directory` (None disables it; gs://... is passed to jax, which
    reads and writes it there); returns the directory used."""
    if directory is None:
        return None
    folder = run_files.run_path(directory)  # local: absolute; gs://...: as given
    if not run_files.is_remote(folder):
        folder.mkdir(parents=True, exist_ok=True)
    directory = os.fspath(folder)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


_HIT_EVENT = "/jax/compilation_cache/cache_hits"
_hits = 0
_listening = False


def _count(event: str, **_) -> None:
    global _hits
    if event == _HIT_EVENT:
        _hits += 1


def cache_hits() -> int:
    """Compilations served from the persistent cache in this process so far."""
    global _listening
    if not _listening:
        jax.monitoring.register_event_listener(_count)
        _listening = True
    return _hits
