"""A TFDS builder of our own for local corpora: folders or files of .txt / .jsonl.

One builder config per domain, a train and a validation split, a version, array_record files:
user corpora get the same caching and metadata as catalogue datasets. A .txt file is one
document; a .jsonl file holds one document per line in a text field. Documents are
de-duplicated by content hash and split by hash order (a document's split never depends on
file order), so validation text never appears in training. A manifest (file list with
hashes) is stored beside the prepared files; a changed source triggers a rebuild.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import pathlib
import shutil
from typing import Iterator, Sequence

import gin
import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils

from admire_jax.data import paths
from admire_jax.data.domain import Domain
from admire_jax.data.jsonl import jsonl_records
from admire_jax.data.tfds_source import TfdsSource

_LOG = logging.getLogger(__name__)

SUFFIXES = (".txt", ".jsonl")
MANIFEST = "admire_manifest.json"


@dataclasses.dataclass
class LocalCorpusConfig(tfds.core.BuilderConfig):
    """One domain: its source files, the JSON text field and the validation share."""

    files: tuple[str, ...] = ()
    text_field: str = "text"
    validation_fraction: float = 0.05


class AdmireLocalCorpus(tfds.core.GeneratorBasedBuilder):
    """Local text files as a versioned TFDS dataset (one config per domain)."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "Documents de-duplicated by sha256; validation by hash order.",
        "1.1.0": "No validation document occurs inside a training document.",
        "1.2.0": "Validation holds at most twice its share of the bytes.",
    }
    # No download checksums to look up. (TFDS's lookup beside the code file also needs the
    # `importlib_resources` backport, which is not installed.)
    code_path = None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Local .txt/.jsonl text corpus prepared by admire_jax.data.",
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        train, validation = split_documents(
            read_documents(self.builder_config.files, self.builder_config.text_field),
            self.builder_config.validation_fraction,
        )
        return {"train": self._generate_examples(train), "validation": self._generate_examples(validation)}

    def _generate_examples(self, docs: list[bytes]):
        for doc in docs:
            yield hashlib.sha256(doc).hexdigest(), {"text": doc}


def expand_paths(sources: Sequence[str | os.PathLike]) -> list[pathlib.Path]:
    """Files behind `sources` (folders searched recursively), sorted; ValueError if none."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    files = []
    for src in sources:
        p = pathlib.Path(src)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES)
            if not found:
                raise ValueError(f"folder {str(p)!r} holds no {'/'.join(SUFFIXES)} files")
            files += found
        elif p.is_file():
            if p.suffix not in SUFFIXES:
                raise ValueError(f"file {str(p)!r} is not {' or '.join(SUFFIXES)}")
            files.append(p)
        else:
            raise ValueError(f"corpus path {str(p)!r} does not exist")
    if not files:
        raise ValueError("no corpus paths given")
    return files


def read_documents(files: Sequence[str | os.PathLike], text_field: str = "text") -> Iterator[bytes]:
    """Yields each document of `files` as UTF-8 bytes; ValueError names empty or bad input."""
    for f in map(pathlib.Path, files):
        data = f.read_bytes()
        if not data.strip():
            raise ValueError(f"corpus file {str(f)!r} is empty")
        if f.suffix == ".txt":
            yield data
            continue
        for where, record in jsonl_records(f, data.splitlines()):
            if not isinstance(record, dict) or text_field not in record:
                raise ValueError(f"{where}: no {text_field!r} field")
            text = record[text_field]
            if not isinstance(text, str):
                raise ValueError(f"{where}: field {text_field!r} is not a string")
            if text:
                yield text.encode("utf-8")


def split_documents(docs: Iterator[bytes], validation_fraction: float) -> tuple[list[bytes], list[bytes]]:
    """De-duplicates by sha256 and moves documents, in hash order, to validation until they
    hold `validation_fraction` of the bytes (at most twice that: documents that would overshoot
    are skipped); no validation text occurs inside training text. Returns (train, validation),
    both non-empty."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), not {validation_fraction}")
    unique = {}
    for doc in docs:
        unique.setdefault(hashlib.sha256(doc).digest(), doc)
    if len(unique) < 2:
        raise ValueError(f"a corpus needs at least 2 distinct documents, found {len(unique)}")
    ordered = [unique[h] for h in sorted(unique)]
    target = validation_fraction * sum(len(d) for d in ordered)
    held, chosen = 0, set()
    for i, doc in enumerate(ordered):  # hash order; skip documents that would overshoot 2x
        if held >= target:
            break
        if held + len(doc) <= 2 * target:
            chosen.add(i)
            held += len(doc)
    if not chosen:  # every document is larger than twice the share: hold out the smallest
        chosen.add(min(range(len(ordered)), key=lambda i: (len(ordered[i]), i)))
    if len(chosen) == len(ordered):
        chosen.discard(max(chosen))
    train = [d for i, d in enumerate(ordered) if i not in chosen]
    validation = [d for i, d in enumerate(ordered) if i in chosen]
    train, validation = _without_overlap(train, validation)
    if not validation:
        raise ValueError(
            "every validation document also occurs inside a training document; the corpus has no held-out text"
        )
    return train, validation


def _without_overlap(train: list[bytes], validation: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Keeps held-out text held out when documents contain one another (vendored copies,
    licence bundles): a validation document found inside a training document moves to train,
    and a training document found inside a validation document is dropped."""
    joined_train = b"\0".join(train)
    inside = [v in joined_train for v in validation]
    train = train + [v for v, i in zip(validation, inside) if i]
    validation = [v for v, i in zip(validation, inside) if not i]
    joined_validation = b"\0".join(validation)
    return [t for t in train if t not in joined_validation], validation


def manifest(files: Sequence[pathlib.Path], **settings) -> dict:
    """File list with sha256 per file, the settings and the builder version; its 'hash' key
    changes whenever any of them does."""
    entries = [[str(f), hashlib.sha256(f.read_bytes()).hexdigest()] for f in files]
    body = {"version": str(AdmireLocalCorpus.VERSION), "settings": settings, "files": entries}
    body["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return body


@gin.configurable
def local_domain(
    name: str,
    sources: Sequence[str | os.PathLike] | str,
    text_field: str = "text",
    validation_fraction: float = 0.05,
    data_dir: str | os.PathLike | None = None,
) -> Domain:
    """A domain from local .txt/.jsonl files or folders, prepared as TFDS (cached).

    Prepared under <data_dir>/admire_local_corpus/<name>/<version>; default data_dir is
    <data root>/local. Rebuilt when the manifest of its sources changes.
    """
    Domain(name, None)  # validates the name before any work
    files = expand_paths(sources)
    data_dir = pathlib.Path(data_dir) if data_dir is not None else paths.data_root() / "local"
    wanted = manifest(files, text_field=text_field, validation_fraction=validation_fraction)
    config = LocalCorpusConfig(
        name=name,
        description=f"manifest {wanted['hash']}",
        files=tuple(str(f) for f in files),
        text_field=text_field,
        validation_fraction=validation_fraction,
    )
    return Domain(name, TfdsSource(str(prepare(AdmireLocalCorpus, config, wanted, data_dir))))


def prepare(builder_cls: type, config: LocalCorpusConfig, wanted: dict, data_dir: pathlib.Path) -> pathlib.Path:
    """Builds `builder_cls` with `config` under `data_dir` unless a build of the manifest
    `wanted` is there already (under a lock); returns the prepared folder."""
    name = config.name
    with paths.locked(data_dir / f".{name}.lock"), _quiet_tfds():
        builder = builder_cls(config=config, data_dir=str(data_dir), file_format="array_record")
        folder = pathlib.Path(builder.data_dir)
        stored = folder / MANIFEST
        built = json.loads(stored.read_text())["hash"] if stored.is_file() else None
        if built != wanted["hash"]:
            if folder.exists():  # our own cache, of a changed source or an unfinished build
                shutil.rmtree(folder)
                builder = builder_cls(config=config, data_dir=str(data_dir), file_format="array_record")
            _LOG.info("data: preparing local corpus %r in %s", name, folder)
            try:
                builder.download_and_prepare()
            except ValueError as e:
                raise ValueError(f"local corpus {name!r}: {e}") from None
            (folder / MANIFEST).write_text(json.dumps(wanted, indent=1))
    return folder


@contextlib.contextmanager
def _quiet_tfds():
    """Keeps TFDS's build chatter (stdout prints, progress bars, a warning per custom config)
    out of the caller's output, which may be JSON or a training log."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    bars = getattr(tqdm_utils, "_active", True)
    absl_logger.setLevel(logging.ERROR)
    tfds.display_progress_bar(False)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        tfds.display_progress_bar(bars)
        absl_logger.setLevel(level)
