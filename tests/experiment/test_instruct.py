"""The instruction-tuning example end to end: tiny checkpoints as rungs, JSONL sources as domains,
exact-match accuracy maximised; and its bad input (exit 2 before anything trains)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from admire_jax.experiment import cli, config, proposals
from admire_jax.experiment.store import TrialStore
from scripts import make_instruct_data

ROOT = pathlib.Path(__file__).resolve().parents[2]
GIN = str(ROOT / "configs" / "experiments" / "instruct_tiny.gin")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_checkpoints):
    """A directory laid out as the example's header says: tiny/qwen2-{s,m,l}, instruct_data/."""
    work = tmp_path_factory.mktemp("instruct")
    tiny_checkpoints.make_all(work / "tiny", families=("qwen2",))
    make_instruct_data.write(work / "instruct_data")
    return work


@pytest.fixture
def in_workdir(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("ADMIRE_JAX_DATA_DIR", str(workdir / "data"))
    return workdir


def _optimize_exit_2(exp_dir, capsys, *bindings):
    assert cli.optimize([f"--gin_file={GIN}", f"--exp_dir={exp_dir}", *bindings]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (exp_dir / "runs").exists(), "nothing may be trained"
    return err


def test_rungs_are_priced_from_their_checkpoints(in_workdir):
    from admire_jax.model.hf import read_config

    exp = config.load([GIN], [])
    assert exp.spec.ladder.names == ["s", "m", "l"] and exp.spec.objective.maximize
    for r in exp.spec.ladder.rungs:
        model = read_config(in_workdir / "tiny" / f"qwen2-{r.name}")[0]
        assert r.checkpoint == str(in_workdir / "tiny" / f"qwen2-{r.name}")
        assert exp.rung_params[r.name] == model.non_embedding_params()
        # the trainer's count: 6 x matmul weights + attention, per token, over the rung's tokens
        assert exp.rung_flops[r.name] == pytest.approx(model.train_flops_per_token(64) * r.tokens)
        assert exp.rung_costs[r.name] == pytest.approx(
            exp.rung_flops[r.name] / exp.spec.budget.assumed_flops_per_second
        )
    assert exp.rung_flops["s"] < exp.rung_flops["m"] < exp.rung_flops["l"]
    held = str(in_workdir / "instruct_data" / "heldout.jsonl")
    assert f"exact_match_accuracy.qa_pairs = {held!r}" in exp.spec.trial_setup.bindings  # %HELDOUT, made absolute


def test_max_epochs_bounds_come_from_the_sources_token_counts(in_workdir, capsys):
    exp = config.load([GIN], ["experiment.max_epochs = 40.0"])
    from admire_jax.train.plan import plan

    rung = exp.spec.ladder.rung("l")
    trial = plan(rung.preset, config.trial_bindings(exp.spec, "l"))
    assert trial.seq_len == 64
    tokens = config.instruction_tokens(exp.spec, rung, trial)
    assert set(tokens) == {"arithmetic", "capitals", "chat"} and all(n > 0 for n in tokens.values())
    assert exp.bounds == {d: (0.0, pytest.approx(40.0 * n / 24576)) for d, n in tokens.items()}  # all < 1
    err = _optimize_exit_2(in_workdir / "epochs", capsys, "--gin.experiment.max_epochs=2.0")
    assert "max_epochs=2.0 leaves no mixture" in err


def test_a_rung_with_a_bad_checkpoint_fails_before_training(in_workdir, capsys):
    err = _optimize_exit_2(in_workdir / "bad_ckpt", capsys, "--gin.CKPT_M='tiny/qwen2-missing'")
    assert "rung 'm'" in err and "qwen2-missing" in err


def test_a_checkpoint_whose_tensors_contradict_its_config_fails_before_training(in_workdir, capsys):
    bad = in_workdir / "tiny" / "qwen2-misshapen"
    if not bad.exists():
        shutil.copytree(in_workdir / "tiny" / "qwen2-m", bad)
        hf_config = json.loads((bad / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps({**hf_config, "intermediate_size": 96}))
    err = _optimize_exit_2(in_workdir / "bad_shapes", capsys, f"--gin.CKPT_M='{bad}'")
    assert f"rung 'm': {bad / 'model.safetensors'}: tensor 'model.layers.0.mlp.gate_proj.weight' has shape" in err
    assert "config.json implies [96, 64]" in err


def test_a_conversation_without_an_assistant_turn_is_named_by_file_and_line(in_workdir, capsys):
    bad = in_workdir / "bad.jsonl"
    bad.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "Hi again"}]})
        + "\n"
    )
    sources = {"capitals": "instruct_data/capitals.jsonl", "arithmetic": str(bad), "chat": "instruct_data/chat.jsonl"}
    err = _optimize_exit_2(in_workdir / "bad_source", capsys, f"--gin.SOURCES={sources!r}")
    assert f"{bad}:2" in err and "no assistant turn" in err


def test_an_objective_score_the_trials_do_not_compute_is_refused(in_workdir, capsys):
    err = _optimize_exit_2(in_workdir / "bad_score", capsys, "--gin.experiment.objective='score:bleu'")
    assert "score(s) ['bleu']" in err and "['exact_match']" in err


def test_checkpoint_rungs_need_instruction_sources(in_workdir, capsys):
    err = _optimize_exit_2(
        in_workdir / "no_sources",
        capsys,
        "--gin.experiment.sources={}",
        "--gin.experiment.domains=['python_code', 'c_code']",
    )
    assert "rung 's' starts from a checkpoint" in err


@pytest.mark.slow
def test_instruction_experiment_maximises_exact_match_end_to_end(in_workdir):
    exp_dir = in_workdir / "exp"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    bindings = [
        "--gin.experiment.max_trials=4",
        "--gin.experiment.initial_trials=2",
        "--gin.experiment.initial_rungs=['s', 'm']",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "admire_jax.cli", "optimize", f"--gin_file={GIN}", f"--exp_dir={exp_dir}", *bindings],
        cwd=in_workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])

    exp = config.load([GIN], [b[len("--gin.") :].replace("=", " = ", 1) for b in bindings])
    trials = TrialStore(exp_dir / "trials.sqlite").trials()
    assert len(trials) == 4 and all(t.status == "ok" for t in trials), [t.error for t in trials]
    assert [t.rung for t in trials] == ["s", "s", "m", "m"]
    for t in trials:  # measured cost per trial: FLOPs exactly as priced, wall seconds from result.json
        assert set(t.scores) == {"exact_match"} and 0.0 <= t.scores["exact_match"] <= 1.0
        assert set(t.losses) == {"arithmetic", "capitals", "chat"}
        assert t.flops == pytest.approx(exp.rung_flops[t.rung]) and t.wall_seconds > 0
        result = json.loads((pathlib.Path(t.run_dir) / "result.json").read_text())
        assert result["wall_seconds"] == pytest.approx(t.wall_seconds)
        assert result["params"] == exp.rung_params[t.rung]

    # measured wall seconds are what the optimiser is told, and its cost model plans with them
    opt, best = proposals.recommend(exp, [], trials)
    assert [o["cost"] for o in opt.observations] == pytest.approx([t.wall_seconds for t in trials])
    measured = {r: [t.wall_seconds for t in trials if t.rung == r] for r in ("s", "m")}
    planned = opt.cost_model(opt.costs, measured)
    assert planned["s"] == pytest.approx(np.exp(np.mean(np.log(measured["s"]))))
    assert opt.costs == pytest.approx(exp.rung_costs)  # declared: FLOPs / assumed FLOP/s

    rec = json.loads((exp_dir / "recommendation.json").read_text())
    assert rec["maximize"] is True and rec["objective"] == {"score:exact_match": 1.0} and rec["target_rung"] == "l"
    # the recommendation is the argmax of the posterior mean at the target rung
    assert np.allclose(best.mixture, [rec["mixture"][d] for d in exp.spec.domains], atol=1e-4)
    candidates = np.vstack(
        [
            np.random.default_rng(0).dirichlet(np.ones(3), 200),
            [proposals.as_vector(t.mixture, exp.spec.domains) for t in trials],
        ]
    )
    mean, _ = opt.predict(candidates, "l")
    assert best.mean >= mean.max() - 1e-6 and rec["predicted"] == pytest.approx(best.mean)

    assert cli.export([f"--exp_dir={exp_dir}"]) == 0
    table = pd.read_csv(exp_dir / "runs.csv")
    assert list(table["score:objective"]) == pytest.approx([t.scores["exact_match"] for t in trials])
    report = (exp_dir / "report.md").read_text()
    assert "score:exact_match (maximised)" in report and f"{exp.rung_params['l']:,}" in report
