"""Objectives that are scores (result.json "scores"), maximised: spec, store, runs table, and the
optimiser maximising a registered score end to end (with the stand-in trainer, whose answer is known)."""

import dataclasses
import math
import sqlite3

import numpy as np
import pytest

from admire_jax.experiment import config, proposals, runs_table, synthetic
from admire_jax.experiment.controller import Controller
from admire_jax.experiment.gin_spec import experiment
from admire_jax.experiment.report import verdict
from admire_jax.experiment.spec import SpecError
from admire_jax.experiment.store import TrialStore
from tests.experiment.helpers import SMOKE

SCORED = [
    "experiment.trainer = 'admire_jax.experiment.synthetic:main'",
    "Runtime.poll_seconds = 0.05",
    "Runtime.compilation_cache = None",
    "experiment.objective = 'score:accuracy'",
]


def _experiment(**kw):
    base = dict(domains=["a", "b"], rungs={"s": ("1m", 10)}, target_rung="s", budget=1.0)
    return experiment(**{**base, **kw})


def test_scores_are_maximised_and_losses_minimised_unless_told_otherwise():
    assert _experiment(objective="score:exact_match").objective.maximize
    assert not _experiment(objective="target").objective.maximize
    assert not _experiment(objective="score:perplexity", maximize=False).objective.maximize
    with pytest.raises(SpecError, match="mixes losses and scores: set experiment.maximize"):
        _experiment(objective={"target": 1.0, "score:exact_match": 1.0})
    objective = _experiment(objective={"score:a": 1.0, "score:b": 3.0}).objective
    assert objective.score_names == ["a", "b"] and objective.loss_domains == []
    assert objective.value(None, {"a": 0.2, "b": 0.6}) == pytest.approx(0.5)
    assert math.isnan(objective.value({"a": 0.2}, {"a": 0.2}))  # score b missing
    assert objective.describe() == "0.25 × score:a + 0.75 × score:b (maximised)"


def test_checkpoint_rungs_as_dicts_and_their_errors():
    spec = _experiment(
        objective="score:x",
        rungs={"s": {"preset": "1m", "tokens": 10, "checkpoint": "ck/s"}},
        sources={"a": "a.jsonl", "b": "b.jsonl"},
    )
    assert spec.ladder.rungs[0].checkpoint.endswith("ck/s") and spec.ladder.rungs[0].preset == "1m"
    with pytest.raises(SpecError, match=r"rung 's': keys are .*unknown \['checkpont'\], missing \['tokens'\]"):
        _experiment(objective="x", rungs={"s": {"preset": "1m", "checkpont": "ck/s"}})
    with pytest.raises(SpecError, match="rung 's' starts from a checkpoint, which needs instruction domains"):
        _experiment(objective="score:x", rungs={"s": {"preset": "1m", "tokens": 10, "checkpoint": "ck/s"}})


def test_store_records_scores_and_opens_a_store_written_before_them(tmp_path):
    path = tmp_path / "trials.sqlite"
    db = sqlite3.connect(path)  # the schema of stores written before scores were recorded
    db.execute(
        "CREATE TABLE trials (id INTEGER PRIMARY KEY, mixture TEXT NOT NULL, rung TEXT NOT NULL, "
        "status TEXT NOT NULL, losses TEXT, wall_seconds REAL, flops REAL, run_dir TEXT NOT NULL, "
        "created REAL NOT NULL, started REAL, finished REAL, error TEXT, role TEXT NOT NULL DEFAULT "
        "'search', seed INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "INSERT INTO trials (mixture, rung, status, losses, run_dir, created) "
        "VALUES ('{\"a\": 1.0}', 's', 'ok', '{\"a\": 2.0}', 'r', 0)"
    )
    db.commit()
    db.close()
    store = TrialStore(path)
    assert store.get(1).scores is None and store.get(1).losses == {"a": 2.0}
    t = store.add({"a": 1.0}, "s", tmp_path)
    store.record_result(t.id, "ok", losses={"a": 1.5}, scores={"exact_match": 0.75}, flops=3.0, wall_seconds=2.0)
    assert TrialStore(path).get(t.id).scores == {"exact_match": 0.75}


def test_runs_table_carries_scores_and_warm_starts_a_maximised_experiment(tmp_path):
    exp = config.load(SMOKE, SCORED)
    store = TrialStore(tmp_path / "trials.sqlite")
    mixtures = [
        {d: w for d, w in zip(exp.spec.domains, np.random.default_rng(i).dirichlet(np.ones(6)))} for i in range(3)
    ]
    for i, m in enumerate(mixtures):
        t = store.add(m, "xs", tmp_path)
        store.record_result(
            t.id,
            "ok",
            losses={"python_reference": 3.0},
            scores={"accuracy": 0.1 * (i + 1)},
            flops=1e9,
            wall_seconds=1.0,
        )
    path = tmp_path / "runs.csv"
    assert runs_table.export_csv(exp, store.trials(), path) == 3
    table = __import__("pandas").read_csv(path)
    assert list(table["score:objective"]) == pytest.approx([0.1, 0.2, 0.3])
    assert list(table["score:accuracy"]) == pytest.approx([0.1, 0.2, 0.3]) and "loss:objective" not in table
    warm = runs_table.read_warm_start(exp, path)
    assert [o.value for o in warm] == pytest.approx([0.1, 0.2, 0.3]) and warm[0].rung == "xs"


def test_trial_imports_modules_first_and_a_missing_one_is_a_failed_trial(tmp_path):
    from admire_jax.experiment import trial
    from admire_jax.experiment.trial_lock import read_result

    command = trial.command(str(tmp_path), "admire_jax.experiment.synthetic:main", [], ["no_such_module_xyz"])
    assert command[3:5] == ["--import=no_such_module_xyz", str(tmp_path)]
    assert trial.main(command[3:]) == 1
    result = read_result(str(tmp_path))
    assert result["status"] == "failed" and "No module named 'no_such_module_xyz'" in result["error"]


def test_verdict_reads_the_direction():
    rec, uni = {"values": [0.75, 0.875], "seeds": [0, 1]}, {"values": [0.5, 0.5], "seeds": [0, 1]}
    assert verdict({"recommended": rec, "uniform": uni}, maximize=True).startswith("recommended is higher")
    assert "(more than two standard errors)" in verdict({"recommended": rec, "uniform": uni}, maximize=True)
    assert "(not more than" in verdict({"recommended": uni, "uniform": rec}, maximize=True)


@pytest.mark.slow
def test_the_optimiser_maximises_a_score_objective(tmp_path):
    """The stand-in trainer's 'accuracy' peaks at a known mixture: the experiment's proposals and
    recommendation find it, and the same trials read as a minimisation point the other way."""
    exp = config.load(
        SMOKE,
        SCORED
        + [
            "BUDGET = 1e15",
            "experiment.initial_trials = 4",
            "experiment.max_trials = 12",
            "experiment.domains = ['python_code', 'c_code', 'markdown']",
            "experiment.recommend_from = 'anywhere'",
        ],
    )  # the demo's is 'target_trials'
    assert exp.spec.objective.maximize
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None)
    controller.search()
    trials = controller.store.trials()
    assert len(trials) == 12 and all(t.scores and 0 < t.scores["accuracy"] <= 1 for t in trials)
    size = synthetic.preset_size("1m")
    accuracy = lambda w: synthetic.accuracy(proposals.as_mixture(w, exp.spec.domains), size)  # noqa: E731
    opt, best = proposals.recommend(exp, [], trials)
    minimising = dataclasses.replace(
        exp, spec=dataclasses.replace(exp.spec, objective=dataclasses.replace(exp.spec.objective, maximize=False))
    )
    _, worst = proposals.recommend(minimising, [], trials)
    assert accuracy(best.mixture) > accuracy(worst.mixture) + 0.05 and best.mean > worst.mean
    observed = [t.scores["accuracy"] for t in trials]
    assert best.mean >= max(observed) - 0.05  # the posterior's best is at least about the best seen
    assert all(o["value"] == pytest.approx(v) for o, v in zip(opt.observations, observed))
    # the known optimum (1/6, 2/6, 3/6 of c_code, markdown, python_code): found within a few hundredths,
    # closing over 90% of uniform's accuracy gap
    optimum = synthetic.optimum(list(exp.spec.domains))
    assert np.abs(best.mixture - proposals.as_vector(optimum, exp.spec.domains)).max() < 0.05
    best_possible = synthetic.accuracy(optimum, size)
    uniform = accuracy(np.full(len(exp.spec.domains), 1 / len(exp.spec.domains)))
    assert best_possible - accuracy(best.mixture) < 0.1 * (best_possible - uniform)
