"""Tokenizers: byte round trip, padded vocabularies, SentencePiece train and load."""
import pathlib
import sys

import numpy as np
import pytest

from admire_jax.data import ByteTokenizer, SentencePieceTokenizer, padded_vocab_size
from admire_jax.data import train_sentencepiece

TEXTS = ["plain ascii", "naïve café — Grüße", "日本語のテキスト", "emoji 🙂 and tabs\tand\nnewlines",
         ""]


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


@pytest.mark.parametrize("size,expected", [(1, 128), (128, 128), (129, 256), (32000, 32000),
                                           (50257, 50304)])
def test_padded_vocab_size(size, expected):
    assert padded_vocab_size(size) == expected


def test_sentencepiece_train_and_load_round_trip(tmp_path):
    stdlib = pathlib.Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    texts = [p.read_text(encoding="utf-8") for p in sorted((stdlib / "json").glob("*.py"))]
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


def test_sentencepiece_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        SentencePieceTokenizer(tmp_path / "nope.model")
