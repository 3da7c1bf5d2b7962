"""Which tokenizer a run uses, chosen in gin by one string:

    configured_tokenizer.path = 'byte'                      # UTF-8 bytes (the default, no file)
    configured_tokenizer.path = 'tokenizers/spm.model'      # a SentencePiece model
    configured_tokenizer.path = 'tokenizers/tokenizer.json' # a Hugging Face tokenizer (or its folder)

The model's vocabulary follows the tokenizer (`vocab_size`, padded to a multiple of 128) in the
trainer, `validate` and the experiment's rung pricing, which all call `configured_tokenizer`.
"""

from __future__ import annotations

import os
import pathlib

import gin

from admire_jax.data.hf_tokenizer import TOKENIZER_FILE, HFTokenizer
from admire_jax.data.tokenizer import ByteTokenizer, SentencePieceTokenizer, Tokenizer

BYTE = "byte"


class TokenizerFileError(ValueError):
    """The configured tokenizer file does not exist or is not a tokenizer."""


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """'byte', a SentencePiece `.model` file, or a `tokenizer.json` (or a folder holding one)."""
    if str(path) == BYTE:
        return ByteTokenizer()
    p = pathlib.Path(path).expanduser()
    if p.is_dir():
        if not (p / TOKENIZER_FILE).is_file():
            raise TokenizerFileError(f"tokenizer folder {str(p)!r} holds no {TOKENIZER_FILE}")
        return HFTokenizer(p)
    if not p.is_file():
        raise TokenizerFileError(
            f"tokenizer file {str(p)!r} does not exist (configured_tokenizer.path: 'byte', a SentencePiece "
            "'.model' or a Hugging Face 'tokenizer.json'; `admire-jax prepare --train_sentencepiece` trains one)"
        )
    if p.suffix == ".model":
        return SentencePieceTokenizer(p)
    if p.name.endswith(".json"):
        if p.name != TOKENIZER_FILE:
            raise TokenizerFileError(f"{str(p)!r}: a Hugging Face tokenizer file is named {TOKENIZER_FILE}")
        return HFTokenizer(p.parent)
    raise TokenizerFileError(f"tokenizer file {str(p)!r} is neither a SentencePiece .model nor a {TOKENIZER_FILE}")


@gin.configurable
def configured_tokenizer(path: str | os.PathLike = BYTE) -> Tokenizer:
    """The run's tokenizer (see the module docstring)."""
    return load_tokenizer(path)


def configured_tokenizer_path() -> str:
    """`configured_tokenizer.path` as bound, without loading it."""
    return str(gin.get_bindings("configured_tokenizer").get("path", BYTE))
