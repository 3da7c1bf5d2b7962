"""A text domain: a name plus a source of train and validation documents.

The loader only needs documents as bytes and a fingerprint that changes whenever the text
does (it keys the token caches). Sources: TFDS datasets (catalogue, local corpora and the
built-in corpus all end up there, see `tfds_source.py`) and in-memory texts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Iterator, Protocol, Sequence

SPLITS = ("train", "validation")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


class DocumentSource(Protocol):
    """Where a domain's documents come from, read by position (tokenising processes each take a
    range of documents)."""

    fingerprint: str  # changes whenever any document changes

    def count(self, split: str) -> int: ...

    def documents(self, split: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]: ...


@dataclasses.dataclass(frozen=True)
class Domain:
    """A named text domain of a mixture."""

    name: str
    source: DocumentSource = dataclasses.field(repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"domain name {self.name!r} must be lower-case letters, digits, "
                "'_', '-' or '.', starting with a letter or digit"
            )

    def documents(self, split: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Yields documents [start, stop) of `split` ('train' or 'validation') as UTF-8 bytes."""
        check_split(split)
        return self.source.documents(split, start, stop)

    def count(self, split: str) -> int:
        """How many documents `split` holds."""
        check_split(split)
        return self.source.count(split)

    @property
    def fingerprint(self) -> str:
        return self.source.fingerprint


@dataclasses.dataclass(frozen=True)
class MemorySource:
    """Documents held in memory; for small user corpora and for tests."""

    train: tuple[bytes, ...]
    validation: tuple[bytes, ...]
    fingerprint: str

    def count(self, split: str) -> int:
        return len(self.train if split == "train" else self.validation)

    def documents(self, split: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        return iter((self.train if split == "train" else self.validation)[start:stop])


def memory_domain(name: str, train: Sequence[str | bytes], validation: Sequence[str | bytes]) -> Domain:
    """A domain from in-memory texts; empty documents raise ValueError."""
    splits = {}
    digest = hashlib.sha256()
    for split, texts in (("train", train), ("validation", validation)):
        docs = tuple(t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts)
        if not docs:
            raise ValueError(f"domain {name!r}: the {split} split has no documents")
        for i, doc in enumerate(docs):
            if not doc:
                raise ValueError(f"domain {name!r}: {split} document {i} is empty")
            digest.update(split.encode() + len(doc).to_bytes(8, "little") + doc)
        splits[split] = docs
    return Domain(name, MemorySource(splits["train"], splits["validation"], "mem-" + digest.hexdigest()[:24]))


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")


def check_unique(domains: Sequence[Domain]) -> None:
    """Raises ValueError when two domains share a name (weights are keyed by name)."""
    seen = set()
    for d in domains:
        if not isinstance(d, Domain):
            raise ValueError(f"{d!r} is not a Domain")
        if d.name in seen:
            raise ValueError(f"domain name {d.name!r} appears twice")
        seen.add(d.name)
