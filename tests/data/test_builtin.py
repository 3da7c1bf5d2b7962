"""The built-in corpus: real text shipped with the package, de-duplicated, deterministic, with a manifest."""

import gzip
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from admire_jax.data import (
    ByteTokenizer,
    MixtureLoader,
    builtin_domains,
    builtin_manifest,
    builtin_targets,
    validation_set,
)
from admire_jax.data import stream as stream_module
from admire_jax.data.builtin_shipped import SHIPPED_DIR, builtin_fingerprint, domain_file
from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS

MAX_BYTES = 600_000  # the acceptance size (>= 500 KB per domain), still built in ~2 s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("builtin")
    domains = builtin_domains(max_bytes=MAX_BYTES, data_dir=data_dir)
    (target,) = builtin_targets(["python_reference"], max_bytes=MAX_BYTES, data_dir=data_dir)
    return data_dir, domains, target


def _texts(domain, split):
    return list(domain.documents(split))


def _sources(name):
    """Where each shipped document of domain `name` came from, in corpus order."""
    with gzip.open(domain_file(SHIPPED_DIR, name), "rt", encoding="utf-8") as f:
        return [json.loads(line)["source"] for line in f]


def test_at_least_four_domains_of_500_kb_of_real_text(corpus):
    data_dir, domains, target = corpus
    assert [d.name for d in domains] == list(TRAIN_DOMAINS)
    manifest = builtin_manifest(max_bytes=MAX_BYTES, data_dir=data_dir)
    for d in domains:
        stored = manifest["domains"][d.name]["bytes"]
        held = sum(len(t) for split in ("train", "validation") for t in _texts(d, split))
        assert held == stored, d.name
    assert sum(manifest["domains"][d.name]["bytes"] >= 500_000 for d in domains) >= 4
    stubs = builtin_targets(["numpy_stubs"], max_bytes=MAX_BYTES, data_dir=data_dir)[0]
    assert (target.name, stubs.name) == TARGET_DOMAINS == ("python_reference", "numpy_stubs")
    assert not set(TARGET_DOMAINS) & {d.name for d in domains}
    assert all(s.startswith("python-") and s.endswith(".py") for s in _sources("python_code"))
    assert all(s.endswith((".h", ".c")) for s in _sources("c_code"))
    assert all("/pydoc_data/topics.py#" in s for s in _sources("python_reference"))
    stub_sources = _sources("numpy_stubs")
    assert len(stub_sources) >= 50 and all(s.startswith("numpy-") and s.endswith(".pyi") for s in stub_sources)
    assert sum(b"def " in doc for doc in _texts(stubs, "train")) >= 0.5 * len(_texts(stubs, "train"))
    markers = {
        "python_code": (b"def ", b"import "),
        "python_tests": (b"def ", b"import "),
        "c_code": (b"#include", b"#define", b"#if"),
        "licenses": (b"licen", b"copyright"),
    }
    for d in domains:
        if d.name in markers:  # real text of the promised kind
            docs = _texts(d, "train")
            hits = sum(any(m in doc.lower() for m in markers[d.name]) for doc in docs)
            assert hits >= 0.9 * len(docs), d.name


def test_validation_text_never_appears_in_training(corpus):
    _, domains, target = corpus
    train, validation = set(), set()
    for d in (*domains, target):
        t, v = _texts(d, "train"), _texts(d, "validation")
        assert t and v, d.name
        assert len(set(t)) == len(t) and len(set(v)) == len(v)  # de-duplicated
        train |= set(t)
        validation |= set(v)
    assert not train & validation
    for d in domains:  # nor inside a training document, e.g. as a vendored copy
        joined = b"\x00".join(_texts(d, "train"))
        assert not any(v in joined for v in _texts(d, "validation") if len(v) > 1000)


def test_same_installation_builds_the_same_corpus(corpus, tmp_path):
    data_dir, domains, _ = corpus
    again = builtin_domains(["markdown", "licenses"], max_bytes=MAX_BYTES, data_dir=tmp_path)
    first = builtin_manifest(max_bytes=MAX_BYTES, data_dir=data_dir)
    second = builtin_manifest(max_bytes=MAX_BYTES, data_dir=tmp_path)
    assert first["hash"] == second["hash"]
    for d in again:
        original = next(x for x in domains if x.name == d.name)
        assert _texts(d, "validation") == _texts(original, "validation")


def test_validation_tokens_are_fixed_from_run_to_run(corpus, tmp_path):
    data_dir, domains, target = corpus
    tok = ByteTokenizer()
    first = validation_set(target, tok, 128, 40, data_dir=data_dir)
    stream_module._MEMORY.clear()  # a new run: no in-memory cache
    shutil.rmtree(data_dir / "tokens")  # and no token cache on disk
    second = validation_set(target, tok, 128, 40, data_dir=data_dir)
    for key in first:
        assert first[key].shape == (40, 128)
        np.testing.assert_array_equal(first[key], second[key])
    docs = _texts(target, "validation")
    assert tok.decode(first["inputs"][0][first["segment_ids"][0] == 1]).encode() in docs[0]


def test_validation_set_pads_the_tail_and_rejects_too_many(corpus):
    data_dir, domains, _ = corpus
    tok = ByteTokenizer()
    full = validation_set(domains[0], tok, 256, data_dir=data_dir)
    last = full["segment_ids"][-1]
    assert (last == 0).any() and last[0] > 0 and np.all(full["loss_mask"][-1][last == 0] == 0)
    assert np.all(full["inputs"][-1][last == 0] == tok.pad_id)
    with pytest.raises(ValueError, match=f"domain '{domains[0].name}' has .* fewer than"):
        validation_set(domains[0], tok, 256, len(full["inputs"]) + 1, data_dir=data_dir)


def test_loader_on_builtin_corpus(corpus):
    data_dir, domains, _ = corpus
    weights = {"python_code": 0.4, "c_code": 0.35, "markdown": 0.25}
    batch = MixtureLoader(domains, weights, 512, 20, 0, data_dir=data_dir).batch(3)
    assert batch["inputs"].shape == (20, 512) and batch["loss_mask"].sum() > 0.9 * 20 * 512


def test_an_edited_prepared_file_is_written_again_from_the_shipped_text(tmp_path):
    code = builtin_domains(["python_code"], max_bytes=50_000, data_dir=tmp_path)[0]
    original = _texts(code, "train")
    (prepared,) = (tmp_path / "builtin").glob("*/sources/python_code.jsonl")
    prepared.write_text(json.dumps({"text": "an edit that must not reach the corpus " * 20}) + "\n")
    again = builtin_domains(["python_code"], max_bytes=50_000, data_dir=tmp_path)[0]
    assert _texts(again, "train") == original
    assert b"an edit that must not reach" not in prepared.read_bytes()


def test_unknown_builtin_domain_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown built-in training domain\(s\) \['wikipedia'\]"):
        builtin_domains(["python_code", "wikipedia"], data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"unknown built-in target\(s\) \['python_code'\].*numpy_stubs"):
        builtin_targets(["python_code"], data_dir=tmp_path)
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        builtin_domains(max_bytes=0, data_dir=tmp_path)


def test_prepare_command_prints_the_corpus(corpus, capsys):
    from admire_jax.data.__main__ import main

    data_dir, domains, _ = corpus
    assert main(["--max_bytes", str(MAX_BYTES), "--data_dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    for name in [*TRAIN_DOMAINS, *TARGET_DOMAINS]:
        assert name in out
    assert out.count("(target)") == 2 and builtin_fingerprint()[:16] in out
    assert main(["--seq_len", "0", "--data_dir", str(data_dir)]) == 2


_BUILD = """
import sys
from admire_jax.data import builtin_domains
domains = builtin_domains(["markdown", "licenses"], max_bytes=40_000, data_dir=sys.argv[1])
print(sum(len(d) for dom in domains for d in dom.documents("train")))
"""


def test_concurrent_first_builds_share_one_cache(tmp_path):
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD, str(tmp_path)], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0] == outputs[1][0] and int(outputs[0][0]) > 60_000
    assert len(list((tmp_path / "builtin").glob("*/manifest.json"))) == 1
