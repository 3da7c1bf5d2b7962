"""Tokenizers: byte round trip, padded vocabularies, SentencePiece train and load."""

import pathlib
import sys

import numpy as np
import pytest

from admire_jax.data import (
    ByteTokenizer,
    MixtureLoader,
    SentencePieceTokenizer,
    memory_domain,
    padded_vocab_size,
    train_sentencepiece,
    validation_set,
)

STDLIB_JSON = pathlib.Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "json"
TEXTS = ["plain ascii", "naïve café — Grüße", "日本語のテキスト", "emoji 🙂 and tabs\tand\nnewlines", ""]


@pytest.mark.parametrize("text", TEXTS)
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert ids.dtype == np.int32
    assert len(ids) == len(text.encode("utf-8"))
    assert ids.min(initial=tok.offset) >= tok.offset and ids.max(initial=0) < 258
    assert tok.decode(ids) == text


def test_byte_tokenizer_round_trip_on_real_source_file():
    text = pathlib.Path(np.__file__).read_text(encoding="utf-8")
    tok = ByteTokenizer()
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text.encode("utf-8")).tolist() == tok.encode(text).tolist()


def test_byte_tokenizer_special_ids_and_padded_vocab():
    tok = ByteTokenizer()
    assert tok.vocab_size % 128 == 0 and tok.vocab_size >= 258
    assert {tok.pad_id, tok.eos_id}.isdisjoint(set(tok.encode(bytes(range(256))).tolist()))
    ids = np.concatenate([tok.encode("ab"), [tok.eos_id, tok.pad_id], tok.encode("c")])
    assert tok.decode(ids) == "abc"


@pytest.mark.parametrize("size,expected", [(1, 128), (128, 128), (129, 256), (32000, 32000), (50257, 50304)])
def test_padded_vocab_size(size, expected):
    assert padded_vocab_size(size) == expected


def test_sentencepiece_train_and_load_round_trip(tmp_path):
    texts = [p.read_text(encoding="utf-8") for p in sorted(STDLIB_JSON.glob("*.py"))]
    tok = train_sentencepiece(texts, tmp_path / "sp", vocab_size=500)
    assert tok.vocab_size == 512 and tok.eos_id == 1 and tok.pad_id == 0
    text = "import json\ndef decode(s):\n    return json.loads(s)  # naïve 🙂\n"
    ids = tok.encode(text)
    assert ids.max() < 500 and tok.eos_id not in ids.tolist()
    assert len(ids) < len(text.encode("utf-8"))  # merges learned from the corpus
    assert tok.decode(ids) == text  # byte fallback keeps unseen characters
    loaded = SentencePieceTokenizer(tmp_path / "sp.model")
    assert loaded.encode(text).tolist() == ids.tolist()
    assert loaded.fingerprint == tok.fingerprint
    # Through the loader: documents end in the model's EOS, rows decode to corpus text.
    domain = memory_domain("json", texts[1:], texts[:1])
    batch = MixtureLoader([domain], {"json": 1.0}, 64, 4, 0, loaded).batch(0)
    assert batch["inputs"].max() < 500 and batch["segment_ids"].min() >= 1
    piece = batch["inputs"][0][batch["segment_ids"][0] == batch["segment_ids"][0][-1]]
    assert loaded.decode(piece) in "".join(texts[1:])
    val = validation_set(domain, loaded, 64)
    assert val["inputs"][val["segment_ids"] > 0].max() < 500


def test_sentencepiece_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        SentencePieceTokenizer(tmp_path / "nope.model")


def test_sentencepiece_learns_from_documents_longer_than_a_training_sentence(tmp_path):
    long_doc = (STDLIB_JSON / "decoder.py").read_text(encoding="utf-8") * 3  # ~36 KB, one document
    tok = train_sentencepiece([long_doc], tmp_path / "sp", vocab_size=400, chunk_chars=2048)
    ids = tok.encode(long_doc)
    assert len(ids) < 0.6 * len(long_doc.encode("utf-8"))  # merges were learned from it
    assert tok.decode(ids) == long_doc
