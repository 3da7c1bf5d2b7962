"""The SQLite trial store and the per-trial lock: real files, real processes."""

import json
import os
import signal
import subprocess
import sys

import pytest

from admire_jax.experiment import trial_lock
from admire_jax.experiment.store import TrialStore


def test_trials_survive_reopening(tmp_path):
    store = TrialStore(tmp_path / "trials.sqlite")
    a = store.add({"code": 0.25, "prose": 0.75}, "1m", tmp_path / "runs")
    b = store.add({"code": 1.0, "prose": 0.0}, "10m", tmp_path / "runs")
    store.mark_running(a.id)
    store.record_result(a.id, "ok", losses={"target": 3.5}, wall_seconds=12.0, flops=1e12)
    store.record_result(b.id, "diverged", error="diverged at step 7")
    store.close()

    reopened = TrialStore(tmp_path / "trials.sqlite")
    got = reopened.trials()
    assert [t.id for t in got] == [a.id, b.id]
    assert got[0].mixture == {"code": 0.25, "prose": 0.75}
    assert got[0].losses == {"target": 3.5} and got[0].flops == 1e12 and got[0].status == "ok"
    assert got[1].status == "diverged" and got[1].error == "diverged at step 7"
    assert got[0].run_dir.endswith(f"trial_{a.id:05d}")
    assert [t.id for t in reopened.trials("diverged", "failed")] == [b.id]


def test_a_finished_trial_is_never_recorded_twice(tmp_path):
    store = TrialStore(tmp_path / "t.sqlite")
    t = store.add({"a": 1.0}, "1m", tmp_path)
    store.record_result(t.id, "ok", losses={"a": 1.0})
    with pytest.raises(ValueError, match="already recorded as 'ok'"):
        store.record_result(t.id, "failed", error="late duplicate")
    with pytest.raises(ValueError, match="never re-run"):
        store.mark_running(t.id)
    assert store.get(t.id).losses == {"a": 1.0}


def test_bad_status_and_unknown_trial(tmp_path):
    store = TrialStore(tmp_path / "t.sqlite")
    t = store.add({"a": 1.0}, "1m", tmp_path)
    with pytest.raises(ValueError, match="status must be one of"):
        store.record_result(t.id, "done")
    with pytest.raises(KeyError, match="no trial 99"):
        store.record_result(99, "ok")
    with pytest.raises(ValueError, match="unknown status"):
        store.trials("finished")


def test_meta_guards_against_a_changed_config(tmp_path):
    store = TrialStore(tmp_path / "t.sqlite")
    store.check_meta("config_hash", "abc")
    store.check_meta("config_hash", "abc")
    t = store.add({"a": 1.0}, "1m", tmp_path)
    with pytest.raises(ValueError, match="started with config_hash='abc'"):
        store.check_meta("config_hash", "xyz")
    assert store.get(t.id).status == "pending"


_HOLDER = """
import sys, time
from admire_jax.experiment import trial_lock
with trial_lock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    run_dir = tmp_path / "trial_00001"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert trial_lock.is_live(run_dir)
        with pytest.raises(trial_lock.TrialBusy):
            with trial_lock.hold(run_dir):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert not trial_lock.is_live(run_dir)


def test_read_result(tmp_path):
    assert trial_lock.read_result(tmp_path) is None
    (tmp_path / "result.json").write_text(json.dumps({"status": "ok"}))
    assert trial_lock.read_result(tmp_path) == {"status": "ok"}
    (tmp_path / "result.json").write_text("{half")
    with pytest.raises(ValueError, match="not valid JSON"):
        trial_lock.read_result(tmp_path)


def test_a_store_of_an_earlier_format_gains_the_new_columns(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "t.sqlite")
    db.executescript(
        "CREATE TABLE trials (id INTEGER PRIMARY KEY, mixture TEXT NOT NULL, rung TEXT NOT NULL, status TEXT NOT NULL,"
        " losses TEXT, wall_seconds REAL, flops REAL, run_dir TEXT NOT NULL, created REAL NOT NULL, started REAL,"
        " finished REAL, error TEXT, role TEXT NOT NULL DEFAULT 'search', seed INTEGER NOT NULL DEFAULT 0);"
        """INSERT INTO trials (mixture, rung, status, run_dir, created) VALUES ('{"a": 1.0}', '1m', 'ok', 'r', 0);"""
    )
    db.commit()
    db.close()
    old = TrialStore(tmp_path / "t.sqlite").get(1)
    assert (old.slot, old.basis, old.restarts, old.wasted_flops, old.scores) == (None, None, 0, 0.0, None)


def test_slots_bases_restarts_and_the_clock_are_recorded(tmp_path):
    now = [100.0]
    store = TrialStore(tmp_path / "t.sqlite", clock=lambda: now[0])
    assert store.next_id() == 1
    a, b = store.add_many(
        [({"a": 1.0}, "1m")] * 2, tmp_path, bases=[{"design": 0}, {"finished": [], "pending": [1], "trial_id": 2}]
    )
    assert store.next_id() == 3 and a.created == 100.0 and b.basis["pending"] == [1]
    now[0] = 150.0
    store.mark_running(a.id, slot=1)
    now[0] = 175.0
    store.record_result(a.id, "ok", flops=30.0, restarts=2, wasted_flops=20.0, wasted_wall_seconds=4.0)
    got = store.get(a.id)
    assert (got.slot, got.started, got.finished, got.restarts, got.wasted_flops) == (1, 150.0, 175.0, 2, 20.0)
