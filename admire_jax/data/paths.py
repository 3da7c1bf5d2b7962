"""Where built datasets and token caches live.

One root serves every cache of the data layer so that a fresh machine, a test (tmp dir) or a
cluster job (shared disk) can move all of it with one setting. Precedence: an explicit
argument, then the gin binding `data_root.path`, then $ADMIRE_JAX_DATA_DIR, then
~/.cache/admire_jax.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import re

import gin

ENV_VAR = "ADMIRE_JAX_DATA_DIR"


_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str | os.PathLike) -> bool:
    """Whether `path` names object storage (has a URI scheme such as gs://) rather than a local file."""
    return bool(_SCHEME.match(os.fspath(path)))


@gin.configurable
def data_root(path: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns the data-layer cache root (created if missing). It must be local: the token cache
    under it is memory-mapped (each host keeps its own copy); sources may still be remote."""
    if path is None:
        path = os.environ.get(ENV_VAR) or pathlib.Path.home() / ".cache" / "admire_jax"
    if is_remote(path):
        raise ValueError(
            f"data root {os.fspath(path)!r} is object storage, but the token cache under it is memory-mapped "
            f"and needs a local filesystem: set {ENV_VAR} (or data_root.path) to a local folder. TFDS "
            "datasets may stay in object storage (tfds_domain.data_dir = 'gs://...')"
        )
    root = pathlib.Path(path).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def resolve(data_dir: str | os.PathLike | None) -> pathlib.Path:
    """Returns `data_dir` as a Path, or the configured default root when it is None."""
    return data_root() if data_dir is None else data_root(data_dir)


@contextlib.contextmanager
def locked(path: pathlib.Path):
    """Holds an exclusive lock on `path` (created if missing) across processes: concurrent
    proxies on one machine, or hosts sharing a disk, never build the same cache twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
