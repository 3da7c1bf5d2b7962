"""Preparing the configured data before any training: every token cache a run will read, and
optionally a SentencePiece tokenizer trained on a sample of the configured domains.

`admire-jax prepare` calls this; `train` (through `proxy_data`) and `optimize` prepare what is
missing themselves, so the command only moves the cost (and the errors) to a moment of the
user's choosing. Every bad input comes out as ValueError naming its culprit.
"""

from __future__ import annotations

import os
import pathlib
from typing import Iterator, Sequence

from admire_jax.data.configured import configured_domains, configured_targets
from admire_jax.data.domain import Domain
from admire_jax.data.tfds_source import DatasetNotPreparedError
from admire_jax.data.token_cache import prepare_split, token_cache
from admire_jax.data.tokenizer import train_sentencepiece
from admire_jax.data.tokenizer_choice import configured_tokenizer, configured_tokenizer_path


def prepare_configured(names: Sequence[str] | None = None) -> list[dict]:
    """Builds the caches of the configured training domains (both splits; only those in `names`
    when given) and of the evaluation-only targets (validation), under the configured tokenizer.

    Returns one metadata record per split (domain, split, documents, tokens)."""
    tokenizer = configured_tokenizer()
    domains, targets = configured_sets()
    if names is not None:
        unknown = sorted(set(names) - {d.name for d in domains})
        if unknown:
            raise ValueError(f"unknown training domain(s) {unknown}; configured: {[d.name for d in domains]}")
        domains = [d for d in domains if d.name in names]
    settings = token_cache()
    work = [(d, s) for d in domains for s in ("train", "validation")] + [(t, "validation") for t in targets]
    return [prepare_split(domain, split, tokenizer, settings=settings) for domain, split in work]


def configured_sets() -> tuple[list[Domain], list[Domain]]:
    """(training domains, evaluation-only targets); an unprepared TFDS dataset is a ValueError
    naming it and the command that prepares it."""
    try:
        return configured_domains(), configured_targets()
    except DatasetNotPreparedError as exc:
        raise ValueError(str(exc)) from None


def train_configured_sentencepiece(vocab_size: int, sample_bytes: int) -> pathlib.Path:
    """Trains a SentencePiece model on up to `sample_bytes` of the configured training domains'
    train text (an equal share each) and writes it where `configured_tokenizer.path` names.

    ValueError when that path is not a `.model` file or already exists (it is never overwritten:
    caches and checkpoints are keyed by it)."""
    path = pathlib.Path(configured_tokenizer_path()).expanduser()
    if path.suffix != ".model":
        raise ValueError(
            f"configured_tokenizer.path is {str(path)!r}: bind it to the '.model' file to train, "
            "e.g. --gin.configured_tokenizer.path=\"'tokenizers/spm.model'\""
        )
    if path.exists():
        raise ValueError(f"tokenizer {str(path)!r} exists; delete it (and its caches' runs) to train a new one")
    if vocab_size < 16 or sample_bytes < 1:
        raise ValueError(f"--vocab_size must be >= 16 and --sample_bytes >= 1, got {vocab_size} and {sample_bytes}")
    domains, _ = configured_sets()
    path.parent.mkdir(parents=True, exist_ok=True)
    train_sentencepiece(sample(domains, sample_bytes), path.with_suffix(""), vocab_size=vocab_size)
    os.remove(path.with_suffix(".vocab"))  # the human-readable piece list; the model holds it too
    return path


def sample(domains: Sequence[Domain], total_bytes: int) -> Iterator[bytes]:
    """Train documents of each domain, in stored order, until it has given its share of
    `total_bytes` (validation text is never sampled)."""
    share = max(1, total_bytes // len(domains))
    for domain in domains:
        taken = 0
        for doc in domain.documents("train"):
            if taken >= share:
                break
            doc = doc[: share - taken]
            taken += len(doc)
            yield doc
