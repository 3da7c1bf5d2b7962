"""The built-in corpus as shipped with the package, and its content fingerprint.

The text lives in `builtin_corpus/` beside this file: one gzipped JSON-lines file per domain
(`{"source": ..., "text": ...}` per document, in corpus order) and a manifest saying what it was
made from. Every installation reads the same bytes, whatever else is installed and whichever
Python runs it, so a loss measured on it means the same thing everywhere. The fingerprint depends
on the domains' names and documents only (no paths, times or manifest fields): a copy anywhere
has the same fingerprint, and any edit to any document gives another.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import pathlib

from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS

SHIPPED_DIR = pathlib.Path(__file__).with_name("builtin_corpus")
MANIFEST = "manifest.json"
ALL_DOMAINS = (*TRAIN_DOMAINS, *TARGET_DOMAINS)


def domain_file(corpus_dir: str | os.PathLike, name: str) -> pathlib.Path:
    return pathlib.Path(corpus_dir) / f"{name}.jsonl.gz"


def shipped_documents(corpus_dir: str | os.PathLike | None = None) -> dict[str, tuple[bytes, ...]]:
    """{domain: its documents in corpus order} of the shipped corpus (or of a copy in `corpus_dir`)."""
    return _read(*_located(corpus_dir))


def shipped_manifest(corpus_dir: str | os.PathLike | None = None) -> dict:
    """What the shipped corpus was made from (Python, distributions and versions) and its size."""
    path = pathlib.Path(corpus_dir or SHIPPED_DIR) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8"))


def builtin_fingerprint(corpus_dir: str | os.PathLike | None = None) -> str:
    """The content fingerprint (sha256 hex) of the built-in corpus: equal wherever its text is equal.

    Experiments and result.json files record it; resuming on a corpus with another one is refused.
    """
    return _fingerprint(*_located(corpus_dir))


def content_fingerprint(documents: dict[str, tuple[bytes, ...]]) -> str:
    """sha256 over each domain's name and its documents, in order, each one length-prefixed."""
    digest = hashlib.sha256()
    for name in sorted(documents):
        digest.update(len(name).to_bytes(8, "little") + name.encode() + len(documents[name]).to_bytes(8, "little"))
        for doc in documents[name]:
            digest.update(len(doc).to_bytes(8, "little") + doc)
    return digest.hexdigest()


def _located(corpus_dir) -> tuple[pathlib.Path, tuple]:
    folder = pathlib.Path(corpus_dir or SHIPPED_DIR).resolve()
    return folder, tuple(_stat(domain_file(folder, n)) for n in ALL_DOMAINS)


@functools.lru_cache(maxsize=4)
def _fingerprint(folder: pathlib.Path, signature: tuple) -> str:
    return content_fingerprint(_read(folder, signature))


def _stat(path: pathlib.Path) -> tuple[int, int] | None:
    """Size and modification time: a file rewritten in place is read again."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


@functools.lru_cache(maxsize=4)
def _read(folder: pathlib.Path, signature: tuple) -> dict[str, tuple[bytes, ...]]:
    del signature  # part of the cache key only
    missing = [n for n in ALL_DOMAINS if not domain_file(folder, n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the built-in corpus in {folder} lacks {[domain_file(folder, n).name for n in missing]}; "
            "reinstall admire-jax (the corpus is package data)"
        )
    return {name: tuple(_documents(domain_file(folder, name))) for name in ALL_DOMAINS}


def _documents(path: pathlib.Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            try:
                yield json.loads(line)["text"].encode("utf-8")
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {i + 1}: not a corpus record ({exc})") from None


def write_domain(corpus_dir: str | os.PathLike, name: str, records: list[tuple[str, bytes]]) -> None:
    """Writes one domain's (source, text) records; the same records always give the same bytes."""
    lines = "".join(json.dumps({"source": s, "text": t.decode("utf-8")}) + "\n" for s, t in records)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as f:
        f.write(lines.encode("utf-8"))
    domain_file(corpus_dir, name).write_bytes(buffer.getvalue())
