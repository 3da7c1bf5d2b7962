"""Greedy decoding and an exact-match score: a downstream objective for instruction tuning.

Decoding recomputes the whole (fixed-length, padded) window for every new token instead of
keeping a key/value cache: one compiled shape, correct for any model, and fast enough for the
small held-out question sets an optimiser trial scores.
"""

from __future__ import annotations

import os
from typing import Sequence

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from admire_jax.data.jsonl import jsonl_records
from admire_jax.model.transformer import Transformer


def greedy_generate(
    model: Transformer, prompt_ids: np.ndarray, max_new_tokens: int, eos_id: int, window: int | None = None
) -> np.ndarray:
    """The ids the model writes after `prompt_ids` (greedy, stopping at and dropping `eos_id`)."""
    prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
    window = window or len(prompt_ids) + max_new_tokens
    if len(prompt_ids) + max_new_tokens > window:
        raise ValueError(
            f"prompt of {len(prompt_ids)} tokens + {max_new_tokens} new tokens exceed the window of {window}"
        )
    tokens_1xW = np.zeros((1, window), np.int32)
    tokens_1xW[0, : len(prompt_ids)] = prompt_ids
    written = []
    for t in range(len(prompt_ids), len(prompt_ids) + max_new_tokens):
        token = int(_next_token(model, jnp.asarray(tokens_1xW), t - 1))
        if token == eos_id:
            break
        written.append(token)
        tokens_1xW[0, t] = token
    return np.asarray(written, np.int32)


@nnx.jit
def _next_token(model: Transformer, tokens_1xW: jax.Array, last: jax.Array) -> jax.Array:
    """argmax of the logits at position `last` (causal: later positions do not affect it)."""
    h_1xWxD = model(tokens_1xW)
    h_1xD = jax.lax.dynamic_index_in_dim(h_1xWxD, last, axis=1, keepdims=False)
    return jnp.argmax(model.logits(h_1xD[:, None])[0, 0])


def read_qa_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(question, answer) pairs of a JSONL file with 'question' and 'answer' string fields."""
    pairs = []
    for where, record in jsonl_records(path):
        if not (
            isinstance(record, dict)
            and isinstance(record.get("question"), str)
            and isinstance(record.get("answer"), str)
        ):
            raise ValueError(f"{where}: needs string fields 'question' and 'answer'")
        pairs.append((record["question"], record["answer"]))
    if not pairs:
        raise ValueError(f"{path}: no question/answer pairs")
    return pairs


@gin.configurable
def exact_match_accuracy(
    model: Transformer,
    tokenizer,
    qa_pairs: str | Sequence[tuple[str, str]],
    max_new_tokens: int = 16,
    system_prompt: str | None = None,
) -> float:
    """Share of questions whose greedy answer equals the reference (whitespace-stripped).

    Each question is rendered as a user turn with the tokenizer's chat template and the
    assistant generation prompt; `qa_pairs` is a JSONL path or a list of (question, answer).
    Higher is better: an objective to maximise.
    """
    pairs = read_qa_pairs(qa_pairs) if isinstance(qa_pairs, (str, os.PathLike)) else list(qa_pairs)
    prompts = []
    for question, _ in pairs:
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": question}
        ]
        prompts.append(tokenizer.encode(tokenizer.render_chat(messages, add_generation_prompt=True)))
    window = max(len(p) for p in prompts) + max_new_tokens  # one window: decoding compiles once
    hits = 0
    for prompt, (_, answer) in zip(prompts, pairs):
        written = greedy_generate(model, prompt, max_new_tokens, tokenizer.eos_id, window)
        hits += tokenizer.decode(written).strip() == answer.strip()
    return hits / len(pairs)
