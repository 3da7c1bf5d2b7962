"""Stop and go: kill -9 the controller, run the same command again, and the experiment goes on.

The trials run the synthetic trainer (admire_jax.experiment.synthetic: a known smooth loss, FLOP
costs, a sleep), so the BO loop, the store, the locks and the executor are all real while no
model is trained. Which trials have finished when a proposal is made depends on timing here
(test_async.py runs the same on a virtual clock, where a resumed run must equal an uninterrupted one).
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from admire_jax.experiment import cli

SYNTHETIC = [
    "--gin_file=configs/experiments/demo.gin",
    "--gin_file=configs/experiments/smoke.gin",
    "--gin.experiment.trainer='admire_jax.experiment.synthetic:main'",
    "--gin.experiment.trial_bindings=['GLOBAL_BATCH = 4', 'SEQ_LEN = 32', 'TransformerConfig.num_layers = 1', "
    "'SYNTHETIC_SECONDS = 1.5', 'SYNTHETIC_FAIL_ABOVE = 0.16']",
    "--gin.experiment.budget=1e12",
    "--gin.experiment.max_trials=6",
    "--gin.Q=2",
    "--gin.LocalExecutor.cpus_per_trial=1",
    "--gin.Runtime.poll_seconds=0.1",
]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}


def _optimize(exp_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "admire_jax.cli", "optimize", *SYNTHETIC, f"--exp_dir={exp_dir}", *extra],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _trials(exp_dir):
    if not (exp_dir / "trials.sqlite").exists():
        return []
    db = sqlite3.connect(f"file:{exp_dir / 'trials.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT id, role, rung, status, mixture, losses, flops FROM trials ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def _finish(proc):
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.mark.slow
def test_kill_9_loses_no_finished_trial_and_starts_none_twice(tmp_path, capsys):
    killed = _optimize(tmp_path / "run")
    deadline = time.time() + 300
    while not any(t[0] >= 3 and t[3] == "running" for t in _trials(tmp_path / "run")):
        assert killed.poll() is None and time.time() < deadline, "controller ended before the kill"
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    interrupted = _trials(tmp_path / "run")
    assert any(t[3] == "running" for t in interrupted) and len(interrupted) < 6
    resumed = _optimize(tmp_path / "run")  # at once: its trials may still be running

    out = _finish(resumed)
    got = _trials(tmp_path / "run")
    assert len(got) == 6 and all(t[3] in ("ok", "diverged") for t in got)
    finished = [t for t in interrupted if t[3] in ("ok", "diverged", "failed")]
    assert finished
    by_id = {t[0]: t for t in got}
    assert all(by_id[t[0]] == t for t in finished), "a trial finished before the kill changed"
    assert all(by_id[t[0]][1:3] + (by_id[t[0]][4],) == t[1:3] + (t[4],) for t in interrupted)  # same proposals
    for t in got:  # each trial trained by one process, once, and recorded once
        run_dir = tmp_path / "run" / "runs" / f"trial_{t[0]:05d}"
        assert (run_dir / "result.json").is_file()
        assert (run_dir / "trial.log").read_text().count("synthetic: training") == 1, f"trial {t[0]} ran twice"
    assert "already recorded" not in out
    # a diverged trial (the uniform start: c_code weight 1/6 > 0.16) is recorded with its error, and the search goes on
    assert got[0][3] == "diverged" and any(t[3] == "ok" for t in got)
    assert {t[2] for t in got[2:]} - {"xs"}, "BO should also use the dearer rungs"
    rec = json.loads((tmp_path / "run" / "recommendation.json").read_text())
    assert {"mixture", "target_rung", "predicted", "check"} <= set(rec) and rec["target_rung"] == "m"

    # status and export read the same directory; export feeds a warm start of a new experiment
    assert cli.status([f"--exp_dir={tmp_path / 'run'}"]) == 0
    shown = capsys.readouterr().out
    assert "current recommendation at m" in shown and shown.count(" search ") == 6
    assert "running: 0 of 2 slots" in shown and "slot utilisation" in shown
    assert cli.export([f"--exp_dir={tmp_path / 'run'}"]) == 0
    table = (tmp_path / "run" / "runs.csv").read_text().splitlines()
    assert table[0].startswith("trial,status,w:python_code,") and "fidelity,cost" in table[0]
    assert "loss:python_reference" in table[0] and len(table) == 7

    warm = _optimize(
        tmp_path / "warm", f"--warm_start={tmp_path / 'run' / 'runs.csv'}", "--gin.experiment.max_trials=2"
    )
    out = _finish(warm)
    started = _trials(tmp_path / "warm")
    assert len(started) == 2, out[-3000:]
    uniform = json.loads(got[0][4])
    assert json.loads(started[0][4]) != uniform, "a warm start skips the initial design"
