"""The built-in corpus: training domains and held-out targets that need no download.

The text ships with the package (`builtin_shipped.py`), so every installation trains and scores
on the same documents. Each domain keeps its first documents up to `max_bytes`; that selection is
written as .jsonl into the data root, in a folder named by a hash of its size and content, and prepared
through the local-corpus TFDS builder. A manifest there records each domain's size and the sha256
of its .jsonl file; an edited or removed file is written again from the shipped text.
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
from admire_jax.data.builtin_shipped import ALL_DOMAINS, builtin_fingerprint, content_fingerprint, shipped_documents
from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS
from admire_jax.data.domain import Domain
from admire_jax.data.local_corpus import local_domain

_LOG = logging.getLogger(__name__)

BUILD_VERSION = "5"  # bump whenever writing or splitting changes what gets built
DEFAULT_MAX_BYTES = 2_000_000  # the shipped corpus holds about this much per domain
VALIDATION_FRACTION = {name: 0.25 for name in TARGET_DOMAINS}  # targets are scored, never trained
DEFAULT_VALIDATION_FRACTION = 0.05


@gin.configurable
def builtin_domains(
    names: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    data_dir: str | os.PathLike | None = None,
    corpus_dir: str | os.PathLike | None = None,
) -> list[Domain]:
    """The built-in training domains (all six when `names` is None), prepared on first use.

    `max_bytes` caps each domain's text (smaller values build faster, e.g. in tests); above the
    shipped size it changes nothing. `corpus_dir` reads a copy of the shipped corpus instead.
    """
    return _domains(_known(names, TRAIN_DOMAINS, "training domain"), max_bytes, data_dir, corpus_dir)


@gin.configurable
def builtin_targets(
    names: Sequence[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    data_dir: str | os.PathLike | None = None,
    corpus_dir: str | os.PathLike | None = None,
) -> list[Domain]:
    """The held-out targets (all when `names` is None): text that no training domain holds, so
    the loss on it is an objective whose best mixture is not obvious."""
    return _domains(_known(names, TARGET_DOMAINS, "target"), max_bytes, data_dir, corpus_dir)


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
    max_bytes: int = DEFAULT_MAX_BYTES,
    data_dir: str | os.PathLike | None = None,
    corpus_dir: str | os.PathLike | None = None,
) -> dict:
    """The manifest of the built-in corpus at this size (preparing it if needed): the corpus
    fingerprint, the selection's hash and, per domain, documents, bytes and file sha256."""
    folder = _ensure_built(_checked(max_bytes), paths.resolve(data_dir), corpus_dir)
    return json.loads((folder / "manifest.json").read_text())


def _checked(max_bytes) -> int:
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive integer, not {max_bytes!r}")
    return max_bytes


def _domains(names, max_bytes, data_dir, corpus_dir) -> list[Domain]:
    folder = _ensure_built(_checked(max_bytes), paths.resolve(data_dir), corpus_dir)
    return [
        local_domain(
            n,
            folder / "sources" / f"{n}.jsonl",
            data_dir=folder / "tfds",
            validation_fraction=VALIDATION_FRACTION.get(n, DEFAULT_VALIDATION_FRACTION),
        )
        for n in names
    ]


def _selection(max_bytes: int, corpus_dir) -> dict[str, tuple[bytes, ...]]:
    """Each domain's first documents, up to the first one that reaches `max_bytes` in total."""
    chosen = {}
    for name, docs in shipped_documents(corpus_dir).items():
        sizes = [0]
        for doc in docs:
            if sizes[-1] >= max_bytes:
                break
            sizes.append(sizes[-1] + len(doc))
        chosen[name] = docs[: len(sizes) - 1]
    return chosen


def _ensure_built(max_bytes: int, root: pathlib.Path, corpus_dir) -> pathlib.Path:
    chosen = _selection(max_bytes, corpus_dir)
    selection = f"{BUILD_VERSION}:{max_bytes}:{content_fingerprint(chosen)}"
    key = hashlib.sha256(selection.encode()).hexdigest()[:16]
    folder = root / "builtin" / key
    folder.mkdir(parents=True, exist_ok=True)
    with paths.locked(folder / ".lock"):
        stored = folder / "manifest.json"
        if stored.is_file():
            if _unchanged(folder, json.loads(stored.read_text())):
                return folder
            _LOG.warning("data: built-in corpus files in %s were changed; writing them again", folder)
        _build(folder, chosen, {"build": BUILD_VERSION, "max_bytes": max_bytes}, builtin_fingerprint(corpus_dir))
    return folder


def _unchanged(folder: pathlib.Path, manifest: dict) -> bool:
    files = {n: folder / "sources" / f"{n}.jsonl" for n in manifest["domains"]}
    return all(p.is_file() and _sha256(p.read_bytes()) == manifest["domains"][n]["sha256"] for n, p in files.items())


def _build(folder: pathlib.Path, chosen: dict, settings: dict, fingerprint: str) -> None:
    (folder / "sources").mkdir(exist_ok=True)
    domains = {}
    for name in ALL_DOMAINS:
        text = "".join(json.dumps({"text": doc.decode("utf-8")}) + "\n" for doc in chosen[name])
        _write_atomic(folder / "sources" / f"{name}.jsonl", text)
        domains[name] = {
            "documents": len(chosen[name]),
            "bytes": sum(map(len, chosen[name])),
            "sha256": _sha256(text.encode("utf-8")),
        }
    body = {"settings": settings, "fingerprint": fingerprint, "domains": domains}
    body["hash"] = content_fingerprint(chosen)
    _write_atomic(folder / "manifest.json", json.dumps(body, indent=1))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
