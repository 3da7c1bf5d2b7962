"""The built-in corpus: training domains and held-out targets that need no download.

Built once per data root from text the installation carries (see `builtin_sources.py`),
de-duplicated by content hash across all domains, written as .jsonl and prepared through the
local-corpus TFDS builder. A manifest lists every source file with its sha256; each later
call re-hashes those files, and any change (edited, removed file) rebuilds the corpus, so a
cached corpus always matches its manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Sequence

import gin

from admire_jax.data import paths
from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS, BuiltinSources, collect
from admire_jax.data.domain import Domain
from admire_jax.data.local_corpus import local_domain

_LOG = logging.getLogger(__name__)

BUILD_VERSION = "4"  # bump whenever collection or splitting changes what gets built
DEFAULT_MAX_BYTES = 4_000_000
VALIDATION_FRACTION = {name: 0.25 for name in TARGET_DOMAINS}  # targets are scored, never trained
DEFAULT_VALIDATION_FRACTION = 0.05


@gin.configurable
def builtin_domains(
    names: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    data_dir: str | os.PathLike | None = None,
    sources: BuiltinSources | None = None,
) -> list[Domain]:
    """The built-in training domains (all six when `names` is None), built on first use.

    `max_bytes` caps each domain's text (smaller values build faster, e.g. in tests).
    """
    return _domains(_known(names, TRAIN_DOMAINS, "training domain"), max_bytes, data_dir, sources)


@gin.configurable
def builtin_targets(
    names: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    data_dir: str | os.PathLike | None = None,
    sources: BuiltinSources | None = None,
) -> list[Domain]:
    """The held-out targets (all when `names` is None): text that no training domain holds, so
    the loss on it is an objective whose best mixture is not obvious."""
    return _domains(_known(names, TARGET_DOMAINS, "target"), max_bytes, data_dir, sources)


def _known(names: Sequence[str] | None, known: tuple[str, ...], kind: str) -> list[str]:
    names = list(known if names is None else names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown built-in {kind}(s) {unknown}; built-in training domains are "
            f"{list(TRAIN_DOMAINS)}, held-out targets {list(TARGET_DOMAINS)}"
        )
    return names


def builtin_manifest(
    max_bytes: int = DEFAULT_MAX_BYTES, data_dir: str | os.PathLike | None = None, sources: BuiltinSources | None = None
) -> dict:
    """The manifest of the built-in corpus (building it if needed): files, hashes, sizes."""
    folder = _ensure_built(max_bytes, paths.resolve(data_dir), sources or BuiltinSources())
    return json.loads((folder / "manifest.json").read_text())


def _domains(names, max_bytes, data_dir, sources) -> list[Domain]:
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive integer, not {max_bytes!r}")
    folder = _ensure_built(max_bytes, paths.resolve(data_dir), sources or BuiltinSources())
    return [
        local_domain(
            n,
            folder / "sources" / f"{n}.jsonl",
            data_dir=folder / "tfds",
            validation_fraction=VALIDATION_FRACTION.get(n, DEFAULT_VALIDATION_FRACTION),
        )
        for n in names
    ]


def _ensure_built(max_bytes: int, root: pathlib.Path, sources: BuiltinSources) -> pathlib.Path:
    settings = {"build": BUILD_VERSION, "max_bytes": max_bytes, "sources": repr(sources)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = root / "builtin" / key
    folder.mkdir(parents=True, exist_ok=True)
    with paths.locked(folder / ".lock"):
        stored = folder / "manifest.json"
        if stored.is_file():
            if _unchanged(json.loads(stored.read_text())):
                return folder
            _LOG.warning("data: built-in corpus sources changed since %s; rebuilding", stored)
        _build(folder, max_bytes, sources, settings)
    return folder


def _unchanged(manifest: dict) -> bool:
    hashes: dict[str, str | None] = {}
    return all(_file_sha256(entry["path"], hashes) == entry["source_sha256"] for entry in manifest["files"])


def _file_sha256(path: str, memo: dict) -> str | None:
    """sha256 of the file behind a manifest path ('file#part' names a part of a file)."""
    file = pathlib.Path(path.split("#")[0])
    if str(file) not in memo:
        memo[str(file)] = _sha256(file.read_bytes()) if file.is_file() else None
    return memo[str(file)]


def _build(folder: pathlib.Path, max_bytes: int, sources: BuiltinSources, settings: dict) -> None:
    (folder / "sources").mkdir(exist_ok=True)
    seen: set[str] = set()
    entries, domains, hashes = [], {}, {}
    for name in (*TRAIN_DOMAINS, *TARGET_DOMAINS):
        lines, size = [], 0
        for path, doc in collect(name, sources):
            if size >= max_bytes:
                break
            digest = _sha256(doc)
            if digest in seen:
                continue  # first domain to claim a text keeps it
            seen.add(digest)
            entries.append(
                {
                    "domain": name,
                    "path": str(path),
                    "doc_sha256": digest,
                    "source_sha256": _file_sha256(str(path), hashes),
                }
            )
            lines.append(json.dumps({"text": doc.decode("utf-8")}))
            size += len(doc)
        if len(lines) < 2:
            raise ValueError(f"built-in domain {name!r} found fewer than 2 documents in {sources}")
        _write_atomic(folder / "sources" / f"{name}.jsonl", "\n".join(lines) + "\n")
        domains[name] = {"documents": len(lines), "bytes": size}
    body = {"settings": settings, "domains": domains, "files": entries}
    body["hash"] = _sha256(json.dumps(body, sort_keys=True).encode())
    _write_atomic(folder / "manifest.json", json.dumps(body, indent=1))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
