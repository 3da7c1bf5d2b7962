"""A user's own data at test size: a TFDS dataset prepared by the project's builder from generated
text, a local JSONL folder, an evaluation-only local corpus and one built-in domain, with the gin
file that names them (and a SentencePiece tokenizer to be trained by `admire-jax prepare`)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from admire_jax.data import local_domain

REPO = pathlib.Path(__file__).resolve().parents[2]
DOMAINS = ("licenses", "notes", "stories")  # built-in, local JSONL, catalogue (TFDS)
TARGET = "heldout"
VOCAB = 600  # SentencePiece pieces; the model's vocabulary is 640 (bytes: 384)


def generated_documents(seed: int, count: int, words: int = 120) -> list[str]:
    """Text over a few thousand made-up words, so a tokenizer has something to learn."""
    rng = np.random.default_rng(seed)
    lexicon = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 9))) for _ in range(3000)]
    zipf = 1.0 / np.arange(1, len(lexicon) + 1)
    zipf /= zipf.sum()
    return [" ".join(rng.choice(lexicon, words, p=zipf)) + ".\n" for _ in range(count)]


def write_corpora(root: pathlib.Path) -> pathlib.Path:
    """Writes the corpora under `root` and returns the gin file that configures them."""
    notes = root / "corpora" / "notes"
    notes.mkdir(parents=True)
    for part in range(2):
        lines = [json.dumps({"text": t}) for t in generated_documents(10 + part, 60)]
        (notes / f"part{part}.jsonl").write_text("\n".join(lines) + "\n")
    heldout = root / "corpora" / "heldout"
    heldout.mkdir()
    for i, text in enumerate(generated_documents(30, 40)):
        (heldout / f"{i}.txt").write_text(text)
    stories = root / "generated" / "stories.jsonl"
    stories.parent.mkdir()
    stories.write_text("\n".join(json.dumps({"text": t}) for t in generated_documents(20, 120)) + "\n")
    tfds_dir = root / "tfds"
    local_domain("stories", stories, data_dir=tfds_dir)  # the project's TFDS builder, as array_record
    gin_file = root / "data.gin"
    gin_file.write_text(
        "\n".join(
            [
                "include 'data/builtin.gin'",
                f"DATA_ROOT = '{root / 'cache'}'",
                "MAX_BYTES = 60000",
                "configured_domains.builtin = ['licenses']",
                f"configured_domains.local = {{'notes': '{notes}'}}",
                "configured_domains.catalogue = {'stories': 'admire_local_corpus/stories'}",
                f"tfds_domain.data_dir = '{tfds_dir}'",
                "configured_targets.builtin = []",
                f"configured_targets.local = {{'{TARGET}': '{heldout}'}}",
                f"configured_tokenizer.path = '{root / 'tokenizer' / 'spm.model'}'",
                "token_cache.processes = 2",
                "",
            ]
        )
    )
    return gin_file


def cli(*args: str, cwd: pathlib.Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """`admire-jax ARGS...` in a fresh process on CPU."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "admire_jax.cli", *args],
        env=env,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train_args(gin_file: pathlib.Path, run_dir: pathlib.Path, *extra: str) -> list[str]:
    """A few steps of a one-layer 1m model on the mixture of the three domains."""
    return [
        "train",
        "--preset=1m",
        f"--gin_file={gin_file}",
        f"--run_dir={run_dir}",
        "--gin.TransformerConfig.num_layers=1",
        "--gin.GLOBAL_BATCH=4",
        "--gin.SEQ_LEN=32",
        "--gin.TrainConfig.steps=4",
        "--gin.TrainConfig.checkpoint_every=2",
        "--gin.TrainConfig.eval_batch=4",
        "--gin.TrainConfig.progress_bar=False",
        "--gin.proxy_data.validation_sequences=4",
        "--gin.enable_compilation_cache.directory=None",
        *extra,
    ]
