"""The token cache: built once, memory-mapped, the same for any number of processes."""

import concurrent.futures
import json
import multiprocessing

import numpy as np
import pytest

from admire_jax.data import ByteTokenizer, Domain, MixtureLoader, local_domain
from admire_jax.data.stream import token_stream
from admire_jax.data.token_cache import (
    CHUNK_DOCUMENTS,
    EmptySplitError,
    cache_folder,
    prepare_split,
    tokenise_documents,
)
from tests.data.own_data import generated_documents

TOK = ByteTokenizer()


@pytest.fixture(scope="module")
def corpus_domain(tmp_path_factory):
    """A local corpus of more documents than one tokenising block."""
    root = tmp_path_factory.mktemp("cache_corpus")
    source = root / "docs.jsonl"
    source.write_text("\n".join(json.dumps({"text": t}) for t in generated_documents(3, 1300, words=12)) + "\n")
    return local_domain("many", source, data_dir=root / "tfds")


def test_cache_is_the_same_for_any_number_of_processes(corpus_domain, tmp_path):
    assert corpus_domain.count("train") > CHUNK_DOCUMENTS
    built = {}
    for processes in (1, 2):
        root = tmp_path / f"p{processes}"
        meta = prepare_split(corpus_domain, "train", TOK, root, {"processes": processes, "progress": False})
        built[processes] = (cache_folder(corpus_domain, TOK, root) / "train.bin").read_bytes()
        assert meta["documents"] == corpus_domain.count("train")
    assert built[1] == built[2]
    whole, _, _ = tokenise_documents(corpus_domain, "train", TOK, 0, corpus_domain.count("train"))
    assert np.frombuffer(built[1], dtype=np.uint16).tolist() == whole.tolist()


def test_streams_are_memory_mapped_and_built_once(corpus_domain, tmp_path):
    stream = token_stream(corpus_domain, "validation", TOK, tmp_path)
    assert isinstance(stream, np.memmap) and not stream.flags.writeable
    folder = cache_folder(corpus_domain, TOK, tmp_path)
    stamp = (folder / "validation.bin").stat().st_mtime_ns
    token_stream(corpus_domain, "validation", TOK, tmp_path)
    assert (folder / "validation.bin").stat().st_mtime_ns == stamp
    loader = MixtureLoader([corpus_domain], {"many": 1.0}, 16, 4, 0, TOK, data_dir=tmp_path)
    assert isinstance(loader.readers[0].tokens, np.memmap)


def test_unfinished_cache_is_rebuilt(corpus_domain, tmp_path):
    folder = cache_folder(corpus_domain, TOK, tmp_path)
    folder.mkdir(parents=True)
    (folder / "train.bin").write_bytes(b"half a file")  # no train.json: never completed
    meta = prepare_split(corpus_domain, "train", TOK, tmp_path, {"processes": 1, "progress": False})
    assert (folder / "train.bin").stat().st_size == 2 * meta["tokens"]


class BlankSource:
    """Two train documents, both empty (a dataset whose text feature holds nothing)."""

    fingerprint = "blank-source"

    def count(self, split):
        return 2

    def documents(self, split, start=0, stop=None):
        return iter([b"", b""][start:stop])


def test_a_split_of_empty_documents_names_the_domain(tmp_path):
    with pytest.raises(EmptySplitError, match="domain 'silent': the train split has no non-empty"):
        token_stream(Domain("silent", BlankSource()), "train", TOK, tmp_path)
    assert not list(tmp_path.rglob("train.*"))  # nothing half-built is left as a cache


def test_concurrent_builders_write_one_cache(corpus_domain, tmp_path):
    settings = {"processes": 1, "progress": False}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        metas = list(pool.map(prepare_split, *zip(*[(corpus_domain, "train", TOK, tmp_path, settings)] * 2)))
    assert metas[0] == metas[1]
    folder = cache_folder(corpus_domain, TOK, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "train.bin", "train.json"]  # no leftovers
