"""Reading JSON-lines files with errors that name the file and line."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterator


def jsonl_records(path: str | os.PathLike, lines: list[bytes] | None = None) -> Iterator[tuple[str, Any]]:
    """Yields (`file:line`, record) for each non-blank line; ValueError names a line that is not JSON.

    `lines` may hold the file's lines already read, so a caller that inspects the bytes first
    does not read the file twice.
    """
    path = pathlib.Path(path)
    if lines is None:
        lines = path.read_bytes().splitlines()
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
