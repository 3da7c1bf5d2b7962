"""Local corpora through the project's TFDS builder, and catalogue datasets by name."""

import json
import pathlib
import shutil

import numpy as np
import pytest

from admire_jax.data import ByteTokenizer, DatasetNotPreparedError, MixtureLoader, local_domain, tfds_domain
from admire_jax.data.local_corpus import split_documents
from admire_jax.data.paths import data_root
from admire_jax.data.tfds_source import find_prepared

DOCS = [f"Document number {i}: " + "the quick brown fox jumps over the lazy dog. " * (5 + i) for i in range(12)]


def _corpus(root: pathlib.Path) -> pathlib.Path:
    folder = root / "corpus"
    (folder / "sub").mkdir(parents=True)
    for i, doc in enumerate(DOCS[:6]):
        (folder / f"part{i}.txt").write_text(doc, encoding="utf-8")
    lines = [json.dumps({"text": d, "url": f"u{i}"}) for i, d in enumerate(DOCS[6:])]
    lines.append(json.dumps({"text": DOCS[0]}))  # a duplicate: kept once
    (folder / "sub" / "more.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    (folder / "sub" / "notes.csv").write_text("not,a,corpus\n", encoding="utf-8")  # ignored
    return folder


def _texts(domain, split):
    return [d.decode("utf-8") for d in domain.documents(split)]


def test_local_folder_builder_round_trip(tmp_path):
    data_dir = tmp_path / "data"
    domain = local_domain("mine", _corpus(tmp_path), data_dir=data_dir, validation_fraction=0.2)
    train, validation = _texts(domain, "train"), _texts(domain, "validation")
    assert sorted(train + validation) == sorted(DOCS)  # every document once, duplicate dropped
    assert validation and train and not set(train) & set(validation)
    prepared = data_dir / "admire_local_corpus" / "mine" / "1.2.0"  # config per domain, versioned
    assert (prepared / "dataset_info.json").is_file()
    assert sorted(p.name.split(".")[0] for p in prepared.glob("*.array_record*")) == [
        "admire_local_corpus-train",
        "admire_local_corpus-validation",
    ]
    manifest = json.loads((prepared / "admire_manifest.json").read_text())
    assert [pathlib.Path(f).name for f, _ in manifest["files"]] == [
        "part0.txt",
        "part1.txt",
        "part2.txt",
        "part3.txt",
        "part4.txt",
        "part5.txt",
        "more.jsonl",
    ]
    # The same prepared dataset opened by name, as a catalogue dataset would be.
    by_name = tfds_domain("mine_again", "admire_local_corpus/mine:1.2.0", data_dir=data_dir)
    assert _texts(by_name, "train") == train
    # And it feeds the loader.
    batch = MixtureLoader([domain], {"mine": 1.0}, 32, 4, 0, ByteTokenizer(), data_dir=data_dir).batch(0)
    first_segment = batch["inputs"][0][batch["segment_ids"][0] == 1]
    text = ByteTokenizer().decode(first_segment)
    assert len(text) > 5 and any(text in d for d in train)


def test_local_corpus_is_cached_and_rebuilt_when_a_source_changes(tmp_path):
    folder, data_dir = _corpus(tmp_path), tmp_path / "data"
    first = local_domain("mine", folder, data_dir=data_dir)
    record = next((data_dir / "admire_local_corpus" / "mine" / "1.2.0").glob("*train*"))
    stamp = record.stat().st_mtime_ns
    again = local_domain("mine", folder, data_dir=data_dir)
    assert record.stat().st_mtime_ns == stamp and again.fingerprint == first.fingerprint
    (folder / "part3.txt").write_text("An edited document. " * 20, encoding="utf-8")
    changed = local_domain("mine", folder, data_dir=data_dir)
    texts = _texts(changed, "train") + _texts(changed, "validation")
    assert "An edited document. " * 20 in texts and DOCS[3] not in texts
    assert changed.fingerprint != first.fingerprint
    # A build cut off before its manifest was written is not trusted, even for unchanged input.
    (data_dir / "admire_local_corpus" / "mine" / "1.2.0" / "admire_manifest.json").unlink()
    (folder / "part4.txt").write_text("Edited while the build was down. " * 20, encoding="utf-8")
    recovered = local_domain("mine", folder, data_dir=data_dir)
    assert "Edited while the build was down. " * 20 in _texts(recovered, "train") + _texts(recovered, "validation")


def test_bad_local_corpus_input_raises_value_error_naming_it(tmp_path):
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(ValueError, match=f"folder '{empty_dir}' holds no"):
        local_domain("x", empty_dir, data_dir=tmp_path / "d")
    empty_file = tmp_path / "empty.txt"
    empty_file.write_text("  \n")
    with pytest.raises(ValueError, match=f"corpus file '{empty_file}' is empty"):
        local_domain("x", [empty_file], data_dir=tmp_path / "d")
    no_field = tmp_path / "nofield.jsonl"
    no_field.write_text(json.dumps({"text": "fine " * 20}) + "\n" + json.dumps({"body": "x"}))
    with pytest.raises(ValueError, match=f"{no_field}:2: no 'text' field"):
        local_domain("x", no_field, data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match=f"{no_field}:1: no 'content' field"):
        local_domain("x", no_field, text_field="content", data_dir=tmp_path / "d")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(ValueError, match=f"{broken}:2: not valid JSON"):
        local_domain("x", broken, data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="does not exist"):
        local_domain("x", tmp_path / "missing", data_dir=tmp_path / "d")
    single = tmp_path / "single.txt"
    single.write_text("only one document here " * 10)
    with pytest.raises(ValueError, match="local corpus 'x': .*at least 2 distinct documents"):
        local_domain("x", single, data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="domain name 'Bad Name'"):
        local_domain("Bad Name", single, data_dir=tmp_path / "d")


def test_catalogue_dataset_missing_names_data_dir_and_prepare_command(tmp_path):
    with pytest.raises(DatasetNotPreparedError) as info:
        tfds_domain("c4", "c4/en", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "tfds build c4/en" in message
    assert "--file_format=array_record" in message


def test_catalogue_dataset_bad_feature_or_split_names_it(tmp_path):
    local_domain("mine", _corpus(tmp_path), data_dir=tmp_path / "data")
    with pytest.raises(ValueError, match="no text feature 'content'.*'text'"):
        tfds_domain("m", "admire_local_corpus/mine", feature="content", data_dir=tmp_path / "data")
    with pytest.raises(ValueError, match="no split 'test'"):
        tfds_domain("m", "admire_local_corpus/mine", validation_split="test", data_dir=tmp_path / "data")
    capped = tfds_domain("m", "admire_local_corpus/mine", max_documents=3, data_dir=tmp_path / "data")
    assert len(list(capped.documents("train"))) == 3
    assert np.all([len(d) > 0 for d in capped.documents("validation")])


def test_catalogue_dataset_without_validation_split_uses_disjoint_slices(tmp_path):
    local_domain("mine", _corpus(tmp_path), data_dir=tmp_path / "data")
    sliced = tfds_domain(
        "m",
        "admire_local_corpus/mine",
        train_split="train[:50%]",
        validation_split="train[50%:]",
        data_dir=tmp_path / "data",
    )
    train, validation = _texts(sliced, "train"), _texts(sliced, "validation")
    whole = tfds_domain("w", "admire_local_corpus/mine", data_dir=tmp_path / "data")
    assert train and validation and not set(train) & set(validation)
    assert sorted(train + validation) == sorted(_texts(whole, "train"))


def test_split_documents_share_dedup_and_order_independence():
    rng = np.random.default_rng(0)
    docs = [(f"doc {i} " * int(rng.integers(20, 2000))).encode() for i in range(300)]
    train, validation = split_documents(iter(docs + docs[:10]), 0.05)  # 10 duplicates
    assert len(train) + len(validation) == 300 and not set(train) & set(validation)
    share = sum(map(len, validation)) / sum(map(len, docs))
    assert 0.05 <= share <= 0.10
    shuffled = [docs[i] for i in rng.permutation(300)]
    assert split_documents(iter(shuffled), 0.05) == (train, validation)  # split by content only
    big_first = [b"x" * 10_000, b"small document one", b"small document two", b"y" * 9_000]
    train, validation = split_documents(iter(big_first), 0.05)
    assert validation and sum(map(len, validation)) < 0.2 * sum(map(len, big_first))


def test_a_prepared_dataset_is_found_in_object_storage_and_the_token_cache_stays_local(tmp_path, bucket):
    local_domain("mine", _corpus(tmp_path), data_dir=tmp_path / "data")
    shutil.copytree(tmp_path / "data" / "admire_local_corpus", bucket / "team" / "tfds" / "admire_local_corpus")
    folder = find_prepared("admire_local_corpus/mine", "gs://team/tfds")
    assert str(folder).startswith("gs://team/tfds/admire_local_corpus/mine/")
    assert (folder / "dataset_info.json").exists()
    with pytest.raises(DatasetNotPreparedError, match="not prepared in data_dir 'gs://team/tfds'"):
        find_prepared("c4/en", "gs://team/tfds")
    with pytest.raises(ValueError, match="is object storage, but the token cache under it is memory-mapped"):
        data_root("gs://team/cache")
