"""Everything a fine-tuning run reads, from one gin binding: the checkpoint's tokenizer, a
mixture loader over instruction domains and fixed validation rows per domain.

    instruction_data.checkpoint = '/ckpt/Qwen2.5-0.5B'
    instruction_data.sources = {'math': '/data/tulu/math.jsonl', 'code': '/data/tulu/code/'}

Fields mirror the trainer's `ProxyData` (tokenizer, loader, validation, mixture, fingerprints), so a trainer
can take either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Mapping, Sequence

import gin
import numpy as np

from admire_jax.data.hf_tokenizer import HFTokenizer
from admire_jax.data.instruct import instruct_domain
from admire_jax.data.instruct_loader import PACKING_FORMAT, InstructionLoader, instruct_validation_set
from admire_jax.data.weights import mixture_weights


@dataclasses.dataclass
class InstructionData:
    tokenizer: HFTokenizer
    loader: InstructionLoader
    validation: dict[str, dict[str, np.ndarray]]
    mixture: dict[str, float]  # normalised weights, every domain named
    fingerprints: dict[str, str]  # data, tokenizer and packing: a resumed run must see the same


@gin.configurable(denylist=["mixture", "seq_len", "global_batch", "seed"])
def instruction_data(
    mixture: Mapping[str, float] | None,
    seq_len: int,
    global_batch: int,
    seed: int,
    checkpoint: str | os.PathLike = gin.REQUIRED,
    sources: Mapping[str, str | Sequence[str]] = gin.REQUIRED,
    validation_sequences: int = 32,
    validation_fraction: float = 0.05,
    process_index: int = 0,
    process_count: int = 1,
    data_dir: str | os.PathLike | None = None,
) -> InstructionData:
    """Instruction domains (one per source, in name order) under the checkpoint's tokenizer;
    `mixture` None means uniform. Validation keeps up to `validation_sequences` rows a domain."""
    if not sources:
        raise ValueError("instruction_data.sources names no instruction source")
    tokenizer = HFTokenizer(checkpoint)
    domains = [
        instruct_domain(name, sources[name], validation_fraction=validation_fraction, data_dir=data_dir)
        for name in sorted(sources)
    ]
    names = [d.name for d in domains]
    weights = mixture_weights(mixture, names)
    loader = InstructionLoader(
        domains, weights, seq_len, global_batch, seed, tokenizer, process_index, process_count, data_dir
    )
    validation = {}
    for domain in domains:
        rows = instruct_validation_set(domain, tokenizer, seq_len, data_dir=data_dir)
        validation[domain.name] = {k: v[:validation_sequences] for k, v in rows.items()}
    text = json.dumps(sorted((d.name, d.fingerprint) for d in domains))
    fingerprints = {
        "data": hashlib.sha256(text.encode()).hexdigest()[:16],
        "tokenizer": tokenizer.fingerprint,
        "cache": PACKING_FORMAT,
    }
    return InstructionData(tokenizer, loader, validation, weights, fingerprints)
