"""Domains read from prepared TFDS datasets (array_record files), without TensorFlow.

Datasets are opened from their prepared folder (<data_dir>/<name>/<config>/<version>) through
`tfds.builder_from_directory(...).as_data_source`, which needs neither TensorFlow nor the
dataset's builder code: this machine cannot download, so preparation happens elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
from typing import Iterator

import gin
from etils import epath

from admire_jax.data import paths
from admire_jax.data.domain import Domain, check_split

PREPARE_HINT = (
    "tfds build {name} --data_dir={data_dir} --file_format=array_record "
    "(on a machine with network access; then copy the folder over)"
)


READ_BLOCK = 256  # records per read


class DatasetNotPreparedError(FileNotFoundError):
    """The TFDS dataset has no prepared array_record copy in the data_dir."""


def find_prepared(name: str, data_dir: str | os.PathLike) -> epath.Path:
    """The prepared folder of `name` ('c4/en' or 'c4/en:3.1.0'): the newest version if none given.
    `data_dir` may be object storage (gs://...), as TFDS allows.

    Raises DatasetNotPreparedError naming the data_dir and the command that prepares it.
    """
    base, _, version = name.partition(":")
    root = epath.Path(data_dir) / base
    if version:
        candidates = [root / version]
    else:
        folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        candidates = sorted(folders, key=lambda p: _version_key(p.name), reverse=True)
    for folder in candidates:
        if (folder / "dataset_info.json").is_file():
            return folder
    raise DatasetNotPreparedError(
        f"TFDS dataset {name!r} is not prepared in data_dir {str(data_dir)!r} (no "
        f"{root}/{version or '<version>'}/dataset_info.json). Prepare it with: "
        + PREPARE_HINT.format(name=name, data_dir=data_dir)
    )


def _version_key(v: str) -> tuple:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (-1,)


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """Documents from a prepared TFDS dataset folder; the split names may slice ("train[:5%]")."""

    directory: str
    feature: str = "text"
    train_split: str = "train"
    validation_split: str = "validation"
    max_documents: int | None = None
    fingerprint: str = dataclasses.field(init=False)

    def __post_init__(self):
        info = pathlib.Path(self.directory) / "dataset_info.json"
        digest = hashlib.sha256(info.read_bytes())
        digest.update(repr((self.feature, self.train_split, self.validation_split, self.max_documents)).encode())
        object.__setattr__(self, "fingerprint", "tfds-" + digest.hexdigest()[:24])

    def builder(self):
        """The TFDS builder of the folder; ValueError for a bad format, feature or split."""
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

        builder = tfds.builder_from_directory(self.directory)
        file_format = getattr(builder.info.file_format, "value", builder.info.file_format)
        if file_format not in (None, "array_record"):
            raise ValueError(
                f"TFDS dataset in {self.directory!r} is stored as {file_format}, "
                "not array_record; rebuild it with --file_format=array_record"
            )
        features = list(builder.info.features.keys())
        if self.feature not in features:
            raise ValueError(
                f"TFDS dataset in {self.directory!r} has no text feature {self.feature!r}; its features are {features}"
            )
        for split in (self.train_split, self.validation_split):
            if split.split("[")[0] not in builder.info.splits:
                raise ValueError(
                    f"TFDS dataset in {self.directory!r} has no split {split!r}; "
                    f"its splits are {list(builder.info.splits)}"
                )
        return builder

    def count(self, split: str) -> int:
        check_split(split)
        count = len(self._data_source(split))
        return count if self.max_documents is None else min(count, self.max_documents)

    def documents(self, split: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Documents [start, stop) of `split`, read READ_BLOCK records at a time (remote storage
        answers per request, not per byte)."""
        source = self._data_source(split)
        total = len(source) if self.max_documents is None else min(len(source), self.max_documents)
        stop = total if stop is None else min(stop, total)
        for lo in range(start, stop, READ_BLOCK):
            for record in source.__getitems__(list(range(lo, min(lo + READ_BLOCK, stop)))):
                text = record[self.feature]
                yield text.encode("utf-8") if isinstance(text, str) else bytes(text)

    def _data_source(self, split: str):
        check_split(split)
        return self.builder().as_data_source(split=self.train_split if split == "train" else self.validation_split)


@gin.configurable
def tfds_domain(
    name: str,
    dataset: str,
    feature: str = "text",
    train_split: str = "train",
    validation_split: str = "validation",
    max_documents: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Domain:
    """A domain from a prepared catalogue dataset, e.g. tfds_domain('c4', 'c4/en').

    `data_dir` is the TFDS data_dir (default: <data root>/tfds). `max_documents` caps how many
    documents of each split are read (None: all).
    """
    if data_dir is None:
        data_dir = paths.data_root() / "tfds"
    elif not paths.is_remote(data_dir):  # a remote data_dir is kept as given
        data_dir = pathlib.Path(data_dir).expanduser()
    folder = find_prepared(dataset, data_dir)
    source = TfdsSource(str(folder), feature, train_split, validation_split, max_documents)
    source.builder()  # bad feature or split names fail here, naming the culprit
    return Domain(name, source)
