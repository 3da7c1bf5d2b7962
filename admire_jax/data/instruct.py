"""Instruction-tuning domains: JSONL files of conversations, prepared as TFDS like local corpora.

Each line is {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]} with at
least one assistant turn. One domain per source (a file or folder of .jsonl files); the builder
stores each conversation as canonical JSON in the 'text' feature of its own TFDS dataset
(`admire_instruct_corpus`), so splitting, de-duplication, versioning and caching are those of
`local_corpus.py`. Bad lines raise ValueError naming the file and line.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterator, Sequence

import gin
import numpy as np
import tensorflow_datasets as tfds

from admire_jax.data import paths
from admire_jax.data.domain import Domain
from admire_jax.data.jsonl import jsonl_records
from admire_jax.data.local_corpus import (
    AdmireLocalCorpus,
    LocalCorpusConfig,
    expand_paths,
    manifest,
    prepare,
    split_documents,
)
from admire_jax.data.tfds_source import TfdsSource

ROLES = ("system", "user", "assistant")
FORMAT_VERSION = "1.0.0"


def parse_conversation(record: Any, where: str) -> list[dict[str, str]]:
    """The validated `messages` of one JSONL record; ValueError starts with `where` (file:line)."""
    if not isinstance(record, dict) or "messages" not in record:
        raise ValueError(f"{where}: no 'messages' field")
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"{where}: message {i} needs 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ValueError(f"{where}: message {i} has unknown role {m['role']!r}; expected one of {ROLES}")
        if not isinstance(m["content"], str):
            raise ValueError(f"{where}: message {i} content is not a string")
        clean.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "assistant" for m in clean):
        raise ValueError(f"{where}: conversation has no assistant turn (nothing to train on)")
    return clean


def read_conversations(files: Sequence[str | os.PathLike]) -> Iterator[bytes]:
    """Each conversation of `files` as canonical JSON bytes ({"messages": [...]})."""
    for f in map(pathlib.Path, files):
        if f.suffix != ".jsonl":
            raise ValueError(f"instruction file {str(f)!r} is not .jsonl")
        lines = f.read_bytes().splitlines()
        if not any(line.strip() for line in lines):
            raise ValueError(f"instruction file {str(f)!r} is empty")
        for where, record in jsonl_records(f, lines):
            messages = parse_conversation(record, where)
            yield json.dumps({"messages": messages}, sort_keys=True, ensure_ascii=False).encode()


def conversation(document: bytes) -> list[dict[str, str]]:
    """The messages of a stored conversation document."""
    return json.loads(document)["messages"]


class AdmireInstructCorpus(AdmireLocalCorpus):
    """Local JSONL conversations as a versioned TFDS dataset (one config per domain)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Conversations as canonical JSON; split as local corpora."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Local JSONL conversations prepared by admire_jax.data.",
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        train, validation = split_documents(
            read_conversations(self.builder_config.files), self.builder_config.validation_fraction
        )
        return {"train": self._generate_examples(train), "validation": self._generate_examples(validation)}


@gin.configurable
def instruct_domain(
    name: str,
    sources: Sequence[str | os.PathLike] | str,
    validation_fraction: float = 0.05,
    data_dir: str | os.PathLike | None = None,
) -> Domain:
    """A domain of conversations from .jsonl files or folders, prepared as TFDS (cached).

    Prepared under <data_dir>/admire_instruct_corpus/<name>/<version>; default data_dir is
    <data root>/instruct. Rebuilt when a source file changes.
    """
    Domain(name, None)  # validates the name before any work
    files = expand_paths(sources)
    for _ in read_conversations(files):  # bad lines fail here, before TFDS is involved
        pass
    data_dir = pathlib.Path(data_dir) if data_dir is not None else paths.data_root() / "instruct"
    wanted = manifest(files, kind="instruct", format=FORMAT_VERSION, validation_fraction=validation_fraction)
    config = LocalCorpusConfig(
        name=name,
        description=f"manifest {wanted['hash']}",
        files=tuple(str(f) for f in files),
        validation_fraction=validation_fraction,
    )
    return Domain(name, TfdsSource(str(prepare(AdmireInstructCorpus, config, wanted, data_dir))))


def tokenized_examples(domain: Domain, split: str, tokenizer) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids [T], assistant [T]) of every conversation of `domain`'s `split`, in stored order;
    `tokenizer` needs `encode_chat` (an HFTokenizer with a chat template)."""
    return [tokenizer.encode_chat(conversation(doc)) for doc in domain.documents(split)]
