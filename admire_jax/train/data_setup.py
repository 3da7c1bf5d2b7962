"""The trainer's data: a mixture loader over the configured training domains and fixed
validation sets, under the configured tokenizer.

Domains and tokenizer come from the registry (`admire_jax.data.configured`); validation covers
every training domain plus the evaluation-only targets (the optimiser's usual objectives), so one
run reports the loss of each, whatever the mixture. Missing token caches are built here, before
any training; bad data input (a missing or unprepared dataset, an empty split, a missing
tokenizer file) raises ValueError naming the culprit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping

import gin
import jax
import numpy as np

from admire_jax.data import MixtureLoader, validation_set
from admire_jax.data.configured import configured_domains, configured_targets
from admire_jax.data.index_shuffle import ORDER_VERSION
from admire_jax.data.tfds_source import DatasetNotPreparedError
from admire_jax.data.token_cache import CACHE_VERSION
from admire_jax.data.tokenizer import Tokenizer
from admire_jax.data.tokenizer_choice import configured_tokenizer
from admire_jax.data.weights import mixture_weights


@dataclasses.dataclass
class ProxyData:
    tokenizer: Tokenizer
    loader: MixtureLoader
    validation: dict[str, dict[str, np.ndarray]]
    mixture: dict[str, float]  # normalised training weights, every training domain named
    fingerprints: dict[str, str]  # data, tokenizer and cache: a resumed run must see the same


@gin.configurable
def proxy_data(
    mixture: Mapping[str, float] | None,
    seq_len: int,
    global_batch: int,
    seed: int,
    validation_sequences: int = 32,
    evaluate_targets: bool = True,
    process_index: int | None = None,
    process_count: int | None = None,
) -> ProxyData:
    """The configured domains (see `configured_domains`), this process's share of each batch."""
    try:
        tokenizer = configured_tokenizer()
        domains = configured_domains()
        targets = configured_targets() if evaluate_targets else []
    except DatasetNotPreparedError as exc:
        raise ValueError(str(exc)) from None
    weights = mixture_weights(mixture, [d.name for d in domains])
    loader = MixtureLoader(
        domains,
        weights,
        seq_len=seq_len,
        global_batch=global_batch,
        seed=seed,
        tokenizer=tokenizer,
        process_index=jax.process_index() if process_index is None else process_index,
        process_count=jax.process_count() if process_count is None else process_count,
    )
    validation = {}
    for domain in domains + targets:
        full = validation_set(domain, tokenizer, seq_len)
        validation[domain.name] = {k: v[:validation_sequences] for k, v in full.items()}
    if jax.process_count() > 1:  # every host's token caches are built (or waited for) before any trains
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("token caches ready")
    return ProxyData(tokenizer, loader, validation, weights, data_fingerprints(domains, tokenizer))


def data_fingerprints(domains, tokenizer: Tokenizer) -> dict[str, str]:
    """What a run's batches depend on besides the mixture and seed: the training domains' text,
    the tokenizer, the token cache's layout and the order items are drawn in."""
    text = json.dumps(sorted((d.name, d.fingerprint) for d in domains))
    return {
        "data": hashlib.sha256(text.encode()).hexdigest()[:16],
        "tokenizer": tokenizer.fingerprint,
        "cache": CACHE_VERSION,
        "order": ORDER_VERSION,
    }
