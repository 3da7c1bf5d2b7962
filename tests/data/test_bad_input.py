"""Bad data input is refused before any training: exit 2 and a message naming the culprit."""

import json
import pathlib

import pytest

from admire_jax.data import local_domain, prepare_cli
from tests.data.own_data import cli, generated_documents, train_args


@pytest.fixture
def corpus(tmp_path) -> pathlib.Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i, text in enumerate(generated_documents(0, 6, words=20)):
        (folder / f"{i}.txt").write_text(text)
    return folder


def _prepare(tmp_path, capsys, *bindings: str) -> str:
    """`admire-jax prepare` on the local corpus config with `bindings`; returns stderr (exit 2)."""
    argv = [
        "--gin_file=data/local.gin",
        f"--gin.DATA_ROOT='{tmp_path / 'cache'}'",
        "--gin.configured_domains.builtin=[]",
        "--gin.configured_targets.builtin=[]",
        "--gin.configured_domains.local={}",
        *bindings,
    ]
    assert prepare_cli.main(argv) == 2
    return capsys.readouterr().err


def test_missing_local_folder(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    err = _prepare(tmp_path, capsys, f"--gin.configured_domains.local={{'mine': '{missing}'}}")
    assert str(missing) in err and "does not exist" in err


def test_empty_local_file(tmp_path, capsys, corpus):
    (corpus / "blank.txt").write_text("  \n")
    err = _prepare(tmp_path, capsys, f"--gin.configured_domains.local={{'mine': '{corpus}'}}")
    assert str(corpus / "blank.txt") in err and "empty" in err


def test_unprepared_catalogue_dataset_names_the_command_that_prepares_it(tmp_path, capsys):
    err = _prepare(
        tmp_path,
        capsys,
        "--gin.configured_domains.catalogue={'web': 'c4/en'}",
        f"--gin.tfds_domain.data_dir='{tmp_path / 'tfds'}'",
    )
    assert "'c4/en' is not prepared" in err and f"tfds build c4/en --data_dir={tmp_path / 'tfds'}" in err


def test_catalogue_dataset_without_the_text_feature(tmp_path, capsys, corpus):
    local_domain("mine", corpus, data_dir=tmp_path / "tfds")
    err = _prepare(
        tmp_path,
        capsys,
        "--gin.configured_domains.catalogue={'web': 'admire_local_corpus/mine'}",
        f"--gin.tfds_domain.data_dir='{tmp_path / 'tfds'}'",
        "--gin.tfds_domain.feature='body'",
    )
    assert "no text feature 'body'" in err


def test_missing_tokenizer_file(tmp_path, capsys, corpus):
    missing = tmp_path / "spm.model"
    err = _prepare(
        tmp_path,
        capsys,
        f"--gin.configured_domains.local={{'mine': '{corpus}'}}",
        f"--gin.configured_tokenizer.path='{missing}'",
    )
    assert f"tokenizer file {str(missing)!r} does not exist" in err


def test_training_a_tokenizer_never_overwrites_one(tmp_path, capsys, corpus):
    existing = tmp_path / "spm.model"
    existing.write_bytes(b"a model someone trained")
    err = _prepare(
        tmp_path,
        capsys,
        f"--gin.configured_domains.local={{'mine': '{corpus}'}}",
        f"--gin.configured_tokenizer.path='{existing}'",
        "--train_sentencepiece",
    )
    assert str(existing) in err and "exists" in err
    assert existing.read_bytes() == b"a model someone trained"


def test_train_refuses_unprepared_data_before_training(tmp_path):
    run_dir = tmp_path / "run"
    gin_file = tmp_path / "data.gin"
    gin_file.write_text(
        "include 'data/builtin.gin'\n"
        f"DATA_ROOT = '{tmp_path / 'cache'}'\n"
        "configured_domains.builtin = []\n"
        "configured_domains.catalogue = {'web': 'c4/en'}\n"
        f"tfds_domain.data_dir = '{tmp_path / 'tfds'}'\n"
    )
    run = cli(*train_args(gin_file, run_dir))
    assert run.returncode == 2, run.stderr[-3000:]
    assert "'c4/en' is not prepared" in run.stderr and "tfds build c4/en" in run.stderr
    assert not (run_dir / "checkpoints").exists()
    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"


def test_optimize_refuses_an_objective_naming_no_configured_set(tmp_path):
    run = cli(
        "optimize",
        "--gin_file=experiments/demo.gin",
        "--gin_file=experiments/smoke.gin",
        f"--exp_dir={tmp_path / 'exp'}",
        "--gin.experiment.objective='klingon_poetry'",
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert "klingon_poetry" in run.stderr
    assert not (tmp_path / "exp" / "runs").exists()


def test_prepare_given_an_experiment_file_builds_what_its_trials_read(tmp_path, monkeypatch, capsys):
    from admire_jax.data import ByteTokenizer, builtin_domains
    from admire_jax.data.token_cache import is_cached

    monkeypatch.setenv("ADMIRE_JAX_DATA_DIR", str(tmp_path / "cache"))
    argv = ["--gin_file=experiments/demo.gin", "--gin.experiment.max_bytes=150000"]
    assert prepare_cli.main(argv) == 0
    trials_read = builtin_domains(["python_code"], max_bytes=150000)[0]
    assert is_cached(trials_read, "train", ByteTokenizer())  # at the experiment's size, not the default
