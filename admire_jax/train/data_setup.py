"""The trainer's data: a mixture loader over the training domains and fixed validation sets.

Validation covers every training domain plus the held-out targets (the optimiser's usual objectives),
so one run reports the loss of each, whatever the mixture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import gin
import jax
import numpy as np

from admire_jax.data import ByteTokenizer, MixtureLoader, builtin_domains, builtin_targets, validation_set


@dataclasses.dataclass
class ProxyData:
    tokenizer: ByteTokenizer
    loader: MixtureLoader
    validation: dict[str, dict[str, np.ndarray]]
    mixture: dict[str, float]  # normalised training weights, every training domain named


def normalise_mixture(mixture: Mapping[str, float] | None, names: list[str]) -> dict[str, float]:
    """Weights over `names` summing to 1 (uniform when None); unknown or negative weights are errors."""
    if mixture is None:
        return {n: 1.0 / len(names) for n in names}
    unknown = sorted(set(mixture) - set(names))
    if unknown:
        raise ValueError(f"mixture names unknown domains {unknown}; known: {names}")
    weights = {n: float(mixture.get(n, 0.0)) for n in names}
    if any(not np.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"mixture weights must be finite, >= 0 and not all 0, got {dict(mixture)}")
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items()}


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
    """Built-in domains (see `builtin_domains` for gin knobs), this process's share of each batch."""
    tokenizer = ByteTokenizer()
    domains = builtin_domains()
    weights = normalise_mixture(mixture, [d.name for d in domains])
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
    scored = domains + (builtin_targets() if evaluate_targets else [])
    validation = {}
    for domain in scored:
        full = validation_set(domain, tokenizer, seq_len)
        validation[domain.name] = {k: v[:validation_sequences] for k, v in full.items()}
    return ProxyData(tokenizer, loader, validation, weights)
