"""The token cache: each domain split tokenised once into a flat file that loaders memory-map.

A split's packed stream (documents back to back, each ending in EOS; see `stream.py`) is stored
as raw little-endian tokens in

    <data root>/tokens/<CACHE_VERSION>/<domain>-<domain fingerprint>-<tokenizer fingerprint>/<split>.bin

beside `<split>.json` (dtype, token and document counts), written last: a split whose .json
exists is complete. Tokenising runs over blocks of `CHUNK_DOCUMENTS` documents in a pool of
processes and the blocks are written in document order, so the file does not depend on the
number of processes. A lock per cache folder (`paths.locked`) keeps two processes (trials on one
machine, hosts on one shared disk) from writing one cache at once: the second waits, then
finds it complete.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import sys
from typing import Iterator

import gin
import numpy as np
from tqdm import tqdm

from admire_jax.data import paths
from admire_jax.data.domain import Domain, check_split
from admire_jax.data.tokenizer import Tokenizer

CACHE_VERSION = "v1"  # change whenever the stored layout or the tokenising rules change
CHUNK_DOCUMENTS = 512


class EmptySplitError(ValueError):
    """A domain split holds no non-empty document."""


@gin.configurable
def token_cache(processes: int | None = None, progress: bool = True) -> dict:
    """How caches are built: `processes` tokenising processes (None: one per CPU core) and whether
    a progress bar is shown on stderr."""
    count = (os.cpu_count() or 1) if processes is None else int(processes)
    if count < 1:
        raise ValueError(f"token_cache.processes must be >= 1, not {processes}")
    return {"processes": count, "progress": bool(progress)}


def cache_folder(domain: Domain, tokenizer: Tokenizer, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where `domain`'s token cache under `tokenizer` lives."""
    name = f"{domain.name}-{domain.fingerprint}-{tokenizer.fingerprint}"
    return paths.resolve(data_dir) / "tokens" / CACHE_VERSION / name


def is_cached(domain: Domain, split: str, tokenizer: Tokenizer, data_dir: str | os.PathLike | None = None) -> bool:
    return (cache_folder(domain, tokenizer, data_dir) / f"{split}.json").is_file()


def cached_tokens(
    domain: Domain, split: str, tokenizer: Tokenizer, data_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """The split's packed tokens, memory-mapped read-only (built first when missing)."""
    check_split(split)
    folder = cache_folder(domain, tokenizer, data_dir)
    if not (folder / f"{split}.json").is_file():
        prepare_split(domain, split, tokenizer, data_dir)
    meta = json.loads((folder / f"{split}.json").read_text())
    return np.memmap(folder / f"{split}.bin", dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["tokens"],))


def prepare_split(
    domain: Domain,
    split: str,
    tokenizer: Tokenizer,
    data_dir: str | os.PathLike | None = None,
    settings: dict | None = None,
) -> dict:
    """Builds the cache of one split unless it is there; returns its metadata.

    EmptySplitError (naming the domain) when no document of the split is non-empty."""
    check_split(split)
    settings = settings or token_cache()
    folder = cache_folder(domain, tokenizer, data_dir)
    meta_path = folder / f"{split}.json"
    with paths.locked(folder / ".lock"):
        if not meta_path.is_file():
            _build(domain, split, tokenizer, folder, settings)
    return json.loads(meta_path.read_text())


def _build(domain: Domain, split: str, tokenizer: Tokenizer, folder: pathlib.Path, settings: dict) -> None:
    count = domain.count(split)
    chunks = [(lo, min(lo + CHUNK_DOCUMENTS, count)) for lo in range(0, count, CHUNK_DOCUMENTS)]
    dtype = stream_dtype(tokenizer)
    tmp = folder / f".{split}.bin.{os.getpid()}"
    tokens = documents = 0
    bar = tqdm(
        total=count,
        desc=f"tokenising {domain.name} {split}",
        unit="doc",
        file=sys.stderr,
        disable=not settings["progress"] or len(chunks) < 2,
    )
    with open(tmp, "wb") as out, bar:
        for ids, kept, seen in _tokenised_chunks(domain, split, tokenizer, chunks, settings["processes"]):
            out.write(ids.astype(dtype).tobytes())
            tokens += len(ids)
            documents += kept
            bar.update(seen)
    if tokens == 0:
        tmp.unlink()
        raise EmptySplitError(f"domain {domain.name!r}: the {split} split has no non-empty documents")
    tmp.replace(folder / f"{split}.bin")
    meta = {
        "domain": domain.name,
        "split": split,
        "dtype": np.dtype(dtype).name,
        "tokens": tokens,
        "documents": documents,
        "domain_fingerprint": domain.fingerprint,
        "tokenizer_fingerprint": tokenizer.fingerprint,
        "cache_version": CACHE_VERSION,
    }
    tmp_meta = folder / f".{split}.json.{os.getpid()}"
    tmp_meta.write_text(json.dumps(meta, indent=1))
    tmp_meta.replace(folder / f"{split}.json")


def _tokenised_chunks(
    domain: Domain, split: str, tokenizer: Tokenizer, chunks: list[tuple[int, int]], processes: int
) -> Iterator[tuple[np.ndarray, int, int]]:
    """(packed ids, documents kept, documents read) of each chunk, in chunk order."""
    if processes < 2 or len(chunks) < 2:
        for lo, hi in chunks:
            yield tokenise_documents(domain, split, tokenizer, lo, hi)
        return
    # spawn: the caller may hold threads (jax, prefetching) that a forked child would inherit broken
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(min(processes, len(chunks)), mp_context=context) as pool:
        yield from pool.map(
            tokenise_documents,
            *zip(*[(domain, split, tokenizer, lo, hi) for lo, hi in chunks]),
        )


def tokenise_documents(
    domain: Domain, split: str, tokenizer: Tokenizer, start: int, stop: int
) -> tuple[np.ndarray, int, int]:
    """Documents [start, stop) of the split packed as ids, each non-empty one ending in EOS (EOS
    inside a document is dropped, so it marks document ends only); with the counts of documents
    kept and read."""
    pieces, kept, seen = [], 0, 0
    eos = np.asarray([tokenizer.eos_id], dtype=np.int32)
    for doc in domain.documents(split, start, stop):
        seen += 1
        ids = tokenizer.encode(doc)
        ids = ids[ids != tokenizer.eos_id]
        if len(ids):
            pieces += [ids, eos]
            kept += 1
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.int32)), kept, seen


def stream_dtype(tokenizer: Tokenizer) -> type:
    """2 bytes per token for vocabularies up to 65536, else 4."""
    return np.uint16 if tokenizer.vocab_size <= 2**16 else np.uint32
