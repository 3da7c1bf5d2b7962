"""The domain registry and the tokenizer choice: names from bindings, forwarding to trials, and a
model vocabulary that follows the configured tokenizer."""

import json
import os

import gin
import pytest

from admire_jax import gin_cli
from admire_jax.data import ByteTokenizer, SentencePieceTokenizer, load_tokenizer, train_sentencepiece
from admire_jax.data.configured import configured_names, registry_bindings
from admire_jax.data.hf_tokenizer import HFTokenizer
from admire_jax.data.tokenizer_choice import TokenizerFileError
from tests.data.own_data import generated_documents


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("spm") / "spm"
    train_sentencepiece(generated_documents(1, 200), prefix, vocab_size=600)
    return prefix.with_suffix(".model")


def _bind(*bindings: str) -> None:
    gin_cli.parse_gin([], ["import admire_jax.data", *bindings])


def test_names_come_from_the_bindings_alone():
    _bind(
        "configured_domains.builtin = ['licenses']",
        "configured_domains.local = {'notes': '/nowhere/notes'}",
        "configured_domains.catalogue = {'c4': 'c4/en'}",
        "configured_targets.builtin = []",
        "configured_targets.local = {'eval_set': '/nowhere/eval'}",
    )
    assert configured_names() == (["licenses", "notes", "c4"], ["eval_set"])
    _bind("configured_targets.local = {'licenses': '/nowhere/eval'}")
    with pytest.raises(ValueError, match=r"\['licenses'\] configured twice"):
        configured_names()


def test_default_names_are_the_builtin_corpus():
    _bind()
    train, targets = configured_names()
    assert "python_code" in train and targets == ["python_reference", "numpy_stubs"]


def test_registry_bindings_forward_resolved_values_with_absolute_paths(tmp_path, monkeypatch):
    _bind()
    assert registry_bindings() == []  # the defaults need no forwarding
    (tmp_path / "notes").mkdir()
    monkeypatch.chdir(tmp_path)
    _bind(
        "CORPUS = 'notes'",
        "configured_domains.local = {'notes': %CORPUS}",
        "builtin_domains.max_bytes = 1000",
        "token_cache.processes = 2",
    )
    forwarded = registry_bindings(skip=["builtin_domains.max_bytes"])
    assert forwarded == [
        f"configured_domains.local = {{'notes': {os.path.join(str(tmp_path), 'notes')!r}}}",
        "token_cache.processes = 2",
    ]
    gin.clear_config()
    _bind(*forwarded)  # what a trial parses, in another directory
    assert gin.query_parameter("configured_domains.local") == {"notes": str(tmp_path / "notes")}


def test_load_tokenizer_by_kind(tmp_path, spm_model):
    assert isinstance(load_tokenizer("byte"), ByteTokenizer)
    tok = load_tokenizer(spm_model)
    assert isinstance(tok, SentencePieceTokenizer) and tok.vocab_size == 640
    with pytest.raises(TokenizerFileError, match="does not exist"):
        load_tokenizer(tmp_path / "missing.model")
    (tmp_path / "vocab.txt").write_text("a\n")
    with pytest.raises(TokenizerFileError, match="neither a SentencePiece"):
        load_tokenizer(tmp_path / "vocab.txt")
    with pytest.raises(TokenizerFileError, match="holds no tokenizer.json"):
        load_tokenizer(tmp_path)


def test_hf_tokenizer_json_by_file_or_folder(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    model = tokenizers.models.WordLevel({"<eos>": 0, "[UNK]": 1, "hello": 2}, unk_token="[UNK]")
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "<eos>"}')
    for path in (tmp_path, tmp_path / "tokenizer.json"):
        loaded = load_tokenizer(path)
        assert isinstance(loaded, HFTokenizer) and loaded.vocab_size == 128 and loaded.eos_id == 0


def test_sentencepiece_tokenizer_pickles(spm_model):
    import pickle

    tok = load_tokenizer(spm_model)
    again = pickle.loads(pickle.dumps(tok))
    assert again.fingerprint == tok.fingerprint
    assert again.encode("hello there").tolist() == tok.encode("hello there").tolist()


def test_the_model_vocabulary_follows_the_tokenizer_in_rung_pricing(spm_model):
    from admire_jax.train.plan import plan

    with_bytes = plan("1m", [])
    with_spm = plan("1m", [f"configured_tokenizer.path = '{spm_model}'"])
    assert with_spm.non_embedding_params == with_bytes.non_embedding_params
    assert with_spm.flops > with_bytes.flops  # the output projection is 640 wide instead of 384


def test_the_model_vocabulary_follows_the_tokenizer_in_validate(spm_model, capsys):
    from admire_jax.train import validate

    reports = {}
    for name, path in (("byte", "byte"), ("spm", str(spm_model))):
        argv = ["--preset=1m", "--per_device_batch=1", "--seq_len=32", "--json"]
        assert validate.main([*argv, f"--gin.configured_tokenizer.path='{path}'"]) == 0
        reports[name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    d_model = 128  # the 1m preset: embedding and output projection each grow by (640 - 384) x d_model
    assert reports["spm"]["params"] - reports["byte"]["params"] == 2 * (640 - 384) * d_model
