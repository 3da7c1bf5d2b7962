"""Work made on another built-in corpus is not resumed: a message naming both fingerprints, exit 2."""

import json

import pytest

from admire_jax.data import CorpusMismatchError, builtin_fingerprint, check_builtin_fingerprint
from admire_jax.data.builtin_check import RECORD_KEY, check_run_dir
from admire_jax.experiment import cli as experiment_cli
from admire_jax.experiment.controller import Controller
from admire_jax.experiment.store import TrialStore
from admire_jax.train import cli as train_cli
from admire_jax.train.result import make_result, write_result

OTHER = "0123456789abcdef" * 4
EXPERIMENT = [
    "--gin_file=configs/experiments/demo.gin",
    "--gin_file=configs/experiments/smoke.gin",
    "--gin.experiment.trainer='admire_jax.experiment.synthetic:main'",
]


def _result(run_dir, **extra):
    record = make_result(
        mixture={"python_code": 1.0},
        preset="1m",
        params=1,
        tokens=1,
        steps=1,
        wall_seconds=1.0,
        flops=1.0,
        val_loss={"python_code": 2.0},
        status="failed",
        **extra,
    )
    write_result(str(run_dir), record)
    return record


def test_another_fingerprint_is_refused_with_a_message_naming_both():
    current = builtin_fingerprint()
    with pytest.raises(
        CorpusMismatchError, match=f"run in x was made on the built-in corpus {OTHER[:16]}.*{current[:16]}"
    ):
        check_builtin_fingerprint(OTHER, "the run in x")
    assert check_builtin_fingerprint(None, "x") == check_builtin_fingerprint(current, "x", True) == current
    with pytest.raises(CorpusMismatchError, match="x was made by an admire-jax .* recorded no fingerprint"):
        check_builtin_fingerprint(None, "x", started=True)


def test_every_result_records_the_fingerprint_and_a_run_on_it_resumes(tmp_path):
    assert _result(tmp_path)[RECORD_KEY] == builtin_fingerprint()
    check_run_dir(tmp_path)  # same corpus: resumes
    check_run_dir(tmp_path / "new")  # nothing recorded yet: starts
    _result(tmp_path, **{RECORD_KEY: OTHER})
    with pytest.raises(CorpusMismatchError, match=str(tmp_path)):
        check_run_dir(tmp_path)
    _result(tmp_path, **{RECORD_KEY: None})  # written before result.json named the corpus
    with pytest.raises(CorpusMismatchError, match="recorded no fingerprint"):
        check_run_dir(tmp_path)


def test_train_resumed_on_another_corpus_exits_2_and_keeps_its_result(tmp_path, capsys):
    _result(tmp_path, **{RECORD_KEY: OTHER})
    before = (tmp_path / "result.json").read_text()
    assert train_cli.main(["--preset=1m", f"--run_dir={tmp_path}"]) == 2
    assert f"built-in corpus {OTHER[:16]}" in capsys.readouterr().err
    assert (tmp_path / "result.json").read_text() == before
    assert json.loads(before)[RECORD_KEY] == OTHER


def test_optimize_records_the_fingerprint_and_refuses_another(tmp_path, capsys, monkeypatch):
    def stop(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Controller, "search", stop)  # the record is made before any trial runs
    fresh = tmp_path / "fresh"
    assert experiment_cli.optimize([*EXPERIMENT, f"--exp_dir={fresh}"]) == 130
    assert TrialStore(fresh / "trials.sqlite").meta(RECORD_KEY) == builtin_fingerprint()
    assert experiment_cli.optimize([*EXPERIMENT, f"--exp_dir={fresh}"]) == 130  # same corpus: resumes

    other = tmp_path / "other"
    other.mkdir()
    TrialStore(other / "trials.sqlite").check_meta(RECORD_KEY, OTHER)
    capsys.readouterr()
    assert experiment_cli.optimize([*EXPERIMENT, f"--exp_dir={other}"]) == 2
    err = capsys.readouterr().err
    assert f"the experiment {other} was made on the built-in corpus {OTHER[:16]}" in err
    assert TrialStore(other / "trials.sqlite").meta(RECORD_KEY) == OTHER

    older = tmp_path / "older"  # trials, but no fingerprint: made before the corpus had one
    older.mkdir()
    TrialStore(older / "trials.sqlite").add_many([({"python_code": 1.0}, "m")], older / "runs")
    assert experiment_cli.optimize([*EXPERIMENT, f"--exp_dir={older}"]) == 2
    assert "recorded no fingerprint" in capsys.readouterr().err
