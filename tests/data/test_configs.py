"""The gin files under configs/data/ parse and name the domains they promise."""

import json
import os
import pathlib

import gin
import pytest

from admire_jax import gin_cli
from admire_jax.data import DatasetNotPreparedError, configured_domains, data_root
from admire_jax.gin_cli import CONFIG_ROOT

CONFIGS = pathlib.Path(CONFIG_ROOT) / "data"


def _parse(name: str, bindings: list[str]) -> None:
    # includes name files from the repository root
    gin_cli.parse_gin([str(CONFIGS / name)], bindings, [os.path.dirname(CONFIG_ROOT), CONFIG_ROOT])


def test_builtin_gin_sets_root_and_sizes(tmp_path):
    _parse(
        "builtin.gin",
        [f"DATA_ROOT = '{tmp_path}'", "MAX_BYTES = 60000", "configured_domains.builtin = ['markdown', 'licenses']"],
    )
    assert data_root() == tmp_path
    domains = configured_domains()
    assert [d.name for d in domains] == ["markdown", "licenses"]
    manifest = json.loads(next((tmp_path / "builtin").glob("*/manifest.json")).read_text())
    assert manifest["settings"]["max_bytes"] == 60000


def test_local_gin_adds_user_corpora(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        (corpus / f"{i}.txt").write_text(f"user document {i}. " * 30)
    _parse(
        "local.gin",
        [
            f"DATA_ROOT = '{tmp_path}'",
            "MAX_BYTES = 60000",
            "configured_domains.builtin = ['licenses']",
            f"configured_domains.local = {{'mine': '{corpus}'}}",
        ],
    )
    domains = configured_domains()
    assert [d.name for d in domains] == ["licenses", "mine"]
    assert (tmp_path / "local" / "admire_local_corpus" / "mine" / "1.2.0").is_dir()
    # A prepared TFDS dataset named in the catalogue mapping (here: the corpus just built).
    with gin.unlock_config():
        gin.bind_parameter("configured_domains.catalogue", {"mine_by_name": "admire_local_corpus/mine"})
        gin.bind_parameter("tfds_domain.data_dir", str(tmp_path / "local"))
    with_catalogue = configured_domains()
    assert [d.name for d in with_catalogue] == ["licenses", "mine", "mine_by_name"]
    assert list(with_catalogue[2].documents("train")) == list(domains[1].documents("train"))


def test_c4_gin_without_prepared_data_names_the_data_dir(tmp_path):
    _parse(
        "c4.gin",
        [
            f"DATA_ROOT = '{tmp_path}'",
            "MAX_BYTES = 60000",
            f"TFDS_DATA_DIR = '{tmp_path / 'tfds'}'",
            "configured_domains.builtin = []",
        ],
    )
    with pytest.raises(DatasetNotPreparedError, match=f"{tmp_path / 'tfds'}.*tfds build c4/en"):
        configured_domains()


def test_no_domains_is_a_value_error():
    with pytest.raises(ValueError, match="names no domain"):
        configured_domains(builtin=[])


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIRE_JAX_DATA_DIR", str(tmp_path / "from_env"))
    assert data_root() == tmp_path / "from_env"
    with gin.unlock_config():
        gin.bind_parameter("data_root.path", str(tmp_path / "from_gin"))
    assert data_root() == tmp_path / "from_gin"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("ADMIRE_JAX_DATA_DIR")
    gin.clear_config()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "admire_jax"


def test_sentencepiece_gin_names_the_model_prepare_trains():
    from admire_jax.data.tokenizer_choice import configured_tokenizer_path

    _parse("sentencepiece.gin", ["TOKENIZER = 'tok/spm.model'"])
    assert configured_tokenizer_path() == "tok/spm.model"
