"""The files of a run folder, on a local disk or in object storage (`gs://...`, as TPU pods keep them).

Paths go through `etils.epath`, as orbax and TFDS do, so one code path serves both. A local path is
made absolute (a resumed run or a trial may start in another directory); a remote one is kept as
given. A JSON record is written whole: locally through a temporary file and a rename, so a reader
never sees half a file; in object storage directly, since an object appears only once complete.
"""

from __future__ import annotations

import json
import os
from typing import Any

from etils import epath

from admire_jax.data.paths import is_remote

__all__ = ["is_remote", "read_json", "run_path", "write_json"]


def run_path(path: str | os.PathLike) -> epath.Path:
    """`path` as an epath.Path: absolute (user folder expanded) when local, as given when remote."""
    text = os.fspath(path)
    return epath.Path(text if is_remote(text) else os.path.abspath(os.path.expanduser(text)))


def write_json(path: str | os.PathLike, record: Any, indent: int = 2, sort_keys: bool = False) -> None:
    """Writes `record` (strict JSON: no NaN) to `path` whole, creating its folder."""
    target = run_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=indent, sort_keys=sort_keys, allow_nan=False)
    if is_remote(target):
        target.write_text(text)
        return
    tmp = target.parent / f"{target.name}.{os.getpid()}.tmp"
    tmp.write_text(text)
    os.replace(tmp, target)


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value stored at `path` (OSError when absent, ValueError when not JSON)."""
    return json.loads(run_path(path).read_text())
