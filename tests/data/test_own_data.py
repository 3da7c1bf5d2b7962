"""A user's own data end to end: prepare (with a SentencePiece tokenizer trained on it), train on a
mixture of a TFDS dataset, a local JSONL folder and a built-in domain, resume bit-exactly, refuse to
resume under another tokenizer, and search a mixture over them with `admire-jax optimize`."""

import json
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.data.own_data import DOMAINS, TARGET, VOCAB, cli, train_args, write_corpora


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The corpora, their gin file and the caches built by `admire-jax prepare`."""
    root = tmp_path_factory.mktemp("own_data")
    gin_file = write_corpora(root)
    run = cli("prepare", f"--gin_file={gin_file}", "--train_sentencepiece", f"--vocab_size={VOCAB}")
    assert run.returncode == 0, run.stderr[-3000:]
    return root, gin_file, run.stdout


@pytest.fixture(scope="module")
def trained(prepared):
    root, gin_file, _ = prepared
    run_dir = root / "runs" / "mixture"
    run = cli(*train_args(gin_file, run_dir))
    assert run.returncode == 0, run.stderr[-3000:]
    return run_dir


def test_prepare_trains_the_tokenizer_and_caches_every_split(prepared):
    root, _, out = prepared
    assert (root / "tokenizer" / "spm.model").is_file()
    rows = [line.split() for line in out.splitlines()[2:]]
    splits = {(r[0], r[1]) for r in rows}
    assert splits == {(d, s) for d in DOMAINS for s in ("train", "validation")} | {(TARGET, "validation")}
    assert all(int(r[3]) > 0 for r in rows)
    # a second prepare finds every cache and rebuilds nothing
    caches = sorted(p.stat().st_mtime_ns for p in (root / "cache" / "tokens").rglob("*.bin"))
    again = cli("prepare", f"--gin_file={root / 'data.gin'}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.stat().st_mtime_ns for p in (root / "cache" / "tokens").rglob("*.bin")) == caches


def test_train_reports_every_domain_under_the_tokenizers_vocabulary(trained):
    result = json.loads((trained / "result.json").read_text())
    assert result["status"] == "ok" and result["steps"] == 4
    assert set(result["mixture"]) == set(DOMAINS)
    assert set(result["val_loss"]) == {*DOMAINS, TARGET}
    assert all(np.isfinite(v) for v in result["val_loss"].values())
    shapes = [leaf.shape for leaf in jax.tree.leaves(_checkpoint_metadata(trained / "checkpoints" / "4"))]
    assert any(640 in s for s in shapes), shapes  # 600 pieces padded to a multiple of 128 (bytes: 384)


def _checkpoint_metadata(step_dir):
    with ocp.StandardCheckpointer() as checkpointer:
        found = checkpointer.metadata(step_dir / "default")
    return getattr(found, "item_metadata", found)


def test_resumed_run_is_bit_exact_and_another_tokenizer_is_refused(prepared, trained, tmp_path):
    _, gin_file, _ = prepared
    resumed = tmp_path / "resumed"
    shutil.copytree(trained, resumed)
    shutil.rmtree(resumed / "checkpoints" / "4")
    (resumed / "result.json").unlink()
    run = cli(*train_args(gin_file, resumed))
    assert run.returncode == 0, run.stderr[-3000:]
    full = json.loads((trained / "result.json").read_text())["val_loss"]
    assert json.loads((resumed / "result.json").read_text())["val_loss"] == full

    other = tmp_path / "other_tokenizer"
    shutil.copytree(trained, other)
    shutil.rmtree(other / "checkpoints" / "4")
    stored = (other / "result.json").read_text()
    run = cli(*train_args(gin_file, other, "--gin.configured_tokenizer.path='byte'"))
    assert run.returncode == 2, run.stderr[-3000:]
    assert "refusing to resume" in run.stderr and "tokenizer" in run.stderr
    assert (other / "checkpoints" / "2").is_dir()
    assert (other / "result.json").read_text() == stored  # the refused command loses nothing stored


@pytest.mark.slow
def test_optimize_recommends_a_mixture_over_the_users_domains(prepared, tmp_path):
    _, gin_file, _ = prepared
    exp_dir = tmp_path / "exp"
    run = cli(
        "optimize",
        "--gin_file=experiments/demo.gin",
        "--gin_file=experiments/smoke.gin",
        f"--gin_file={gin_file}",
        f"--exp_dir={exp_dir}",
        f"--gin.experiment.domains={list(DOMAINS)}",
        f"--gin.experiment.objective='{TARGET}'",
        "--gin.experiment.max_trials=3",
        "--gin.BUDGET=1e10",
        cwd=tmp_path,
        timeout=1500,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    rec = json.loads((exp_dir / "recommendation.json").read_text())
    assert set(rec["mixture"]) == set(DOMAINS) and sum(rec["mixture"].values()) == pytest.approx(1.0)
    assert rec["objective"] == {TARGET: 1.0}
    results = [json.loads(p.read_text()) for p in (exp_dir / "runs").glob("trial_*/result.json")]
    assert results and all(r["status"] == "ok" and TARGET in r["val_loss"] for r in results)
