"""Tokenizers: bytes by default (no download), or a SentencePiece model.

Every tokenizer reports a `vocab_size` padded up to a multiple of 128 so that embedding and
output matrices split evenly over tensor-parallel devices; the ids above the real vocabulary
are never produced.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Iterable, Iterator, Protocol

import numpy as np

VOCAB_MULTIPLE = 128


def padded_vocab_size(size: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """Rounds `size` up to a multiple of `multiple`."""
    return -(-size // multiple) * multiple


class Tokenizer(Protocol):
    vocab_size: int
    eos_id: int
    pad_id: int
    fingerprint: str

    def encode(self, text: str | bytes) -> np.ndarray: ...

    def decode(self, ids: Iterable[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens: id 0 = padding, id 1 = end of document, byte b -> b + 2."""

    pad_id = 0
    eos_id = 1
    offset = 2
    vocab_size = padded_vocab_size(256 + offset)  # 384
    fingerprint = "bytes-v1"

    def encode(self, text: str | bytes) -> np.ndarray:
        """Returns the ids of `text` (int32, no end-of-document token)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return np.frombuffer(data, dtype=np.uint8).astype(np.int32) + self.offset

    def decode(self, ids: Iterable[int]) -> str:
        """Returns the text of `ids`, skipping padding, end-of-document and unused ids."""
        ids_N = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        kept = ids_N[(ids_N >= self.offset) & (ids_N < self.offset + 256)] - self.offset
        return kept.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class SentencePieceTokenizer:
    """A SentencePiece model.

    Models trained by `train_sentencepiece` use id 0 = padding, 1 = end of document, 2 = unknown.
    Picklable (as its model bytes), so tokenising processes can be handed one.
    """

    def __init__(self, model_file: str | os.PathLike):
        path = pathlib.Path(model_file)
        if not path.is_file():
            raise ValueError(f"SentencePiece model file {str(path)!r} does not exist")
        self._load(path.read_bytes(), str(path))

    def _load(self, proto: bytes, model_file: str) -> None:
        spm = _import_sentencepiece()
        self._proto = proto
        self._sp = spm.SentencePieceProcessor(model_proto=proto)
        self.model_file = model_file
        path = pathlib.Path(model_file)
        self.eos_id = int(self._sp.eos_id())
        self.pad_id = int(self._sp.pad_id())
        if self.eos_id < 0:
            raise ValueError(f"SentencePiece model {str(path)!r} has no end-of-document piece")
        if self.pad_id < 0:  # no pad piece: padding reuses eos, and is always masked out
            self.pad_id = self.eos_id
        self.vocab_size = padded_vocab_size(int(self._sp.get_piece_size()))
        self.fingerprint = "spm-" + hashlib.sha256(proto).hexdigest()[:16]

    def encode(self, text: str | bytes) -> np.ndarray:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return np.asarray(self._sp.encode(text), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        real = self._sp.get_piece_size()
        special = (self.eos_id, self.pad_id)
        return self._sp.decode([int(i) for i in ids if 0 <= int(i) < real and int(i) not in special])

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({self.model_file!r})"

    def __getstate__(self) -> dict:
        return {"proto": self._proto, "model_file": self.model_file}

    def __setstate__(self, state: dict) -> None:
        self._load(state["proto"], state["model_file"])


def train_sentencepiece(
    texts: Iterable[str | bytes],
    model_prefix: str | os.PathLike,
    vocab_size: int = 4096,
    model_type: str = "bpe",
    chunk_chars: int = 4096,
) -> SentencePieceTokenizer:
    """Trains a SentencePiece model on `texts` and returns it loaded.

    Writes `<model_prefix>.model` and `.vocab`. Pass the train documents of the chosen domains
    (`d for dom in domains for d in dom.documents('train')`) so validation text stays unseen.
    Documents are fed in chunks of at most `chunk_chars`, cut at line ends, since the trainer
    skips longer "sentences"; whitespace and newlines are kept exactly (code, Markdown).
    """
    spm = _import_sentencepiece()
    prefix = pathlib.Path(model_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=_chunks(texts, chunk_chars),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        max_sentence_length=4 * chunk_chars,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        minloglevel=2,
        num_threads=1,
    )
    return SentencePieceTokenizer(f"{prefix}.model")


def _chunks(texts: Iterable[str | bytes], chunk_chars: int) -> Iterator[str]:
    """Pieces of each text of at most `chunk_chars` characters, split after newlines."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        piece = []
        size = 0
        for line in text.splitlines(keepends=True):
            while len(line) > chunk_chars:  # a single overlong line
                yield line[:chunk_chars]
                line = line[chunk_chars:]
            if size + len(line) > chunk_chars and piece:
                yield "".join(piece)
                piece, size = [], 0
            piece.append(line)
            size += len(line)
        if piece:
            yield "".join(piece)


def _import_sentencepiece():
    try:
        import sentencepiece  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError(
            "SentencePiece tokenization needs the `sentencepiece` package: pip install sentencepiece"
        ) from e
    return sentencepiece
