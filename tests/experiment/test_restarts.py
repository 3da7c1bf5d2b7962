"""Trials that are preempted or lost start again in their own run folder and count once."""

import json
import math

import pytest

from admire_jax.experiment import config, invocations, proposals, trial
from admire_jax.experiment.controller import Controller
from admire_jax.train.result import write_result
from tests.experiment.helpers import SMOKE, SYNTHETIC
from tests.experiment.virtual import VirtualClock, VirtualExecutor, VirtualJob

SEQUENTIAL = SYNTHETIC + ["experiment.max_trials = 5", "experiment.budget = 1e12", "experiment.seed_per_trial = True"]
MIXTURE = {"python_code": 0.5, "python_tests": 0.1, "c_code": 0.1, "docstrings": 0.1, "markdown": 0.1, "licenses": 0.1}


def _preempt(run_folder, times):
    """The smoke trial bindings and one that makes the synthetic trainer preempt a trial."""
    smoke = list(config.load(SMOKE, SYNTHETIC).spec.trial_setup.bindings)
    return f"experiment.trial_bindings = {smoke + [f'SYNTHETIC_PREEMPT = {{{run_folder!r}: {times}}}']!r}"


def _controller(tmp_path, name, bindings=(), executor=VirtualExecutor):
    clock = VirtualClock()
    exp = config.load(SMOKE, SEQUENTIAL + list(bindings))
    exp.runtime.executor = executor(clock, slots=1)
    return Controller(exp, tmp_path / name, log=lambda line: None, clock=clock, sleep=clock.sleep)


def test_a_trial_preempted_twice_completes_on_its_third_start_and_counts_once(tmp_path):
    plain = _controller(tmp_path, "plain")
    plain.search()
    preempted = _controller(tmp_path, "preempted", [_preempt("trial_00003", 2)])
    preempted.search()
    got, want = preempted.store.trials(), plain.store.trials()
    assert [(t.id, t.rung, t.status, t.seed) for t in got] == [(t.id, t.rung, t.status, t.seed) for t in want]
    starts = [name for name, _, _ in preempted.executor.submitted]
    assert starts.count("trial_00003") == 3 and len(starts) == len(got) + 2
    third, full = got[2], want[2]
    assert third.restarts == 2 and len(invocations.earlier(third.run_dir)) == 2
    half = 6e6 * (full.flops / 6e6 // 2)  # each preempted start ran half the trial, with nothing to resume from
    assert third.flops == pytest.approx(full.flops + 2 * half) and third.wasted_flops == pytest.approx(2 * half)
    assert proposals.trial_cost(preempted.exp, third) == pytest.approx(full.flops)  # what the GP is told
    assert third.losses == full.losses
    for g, w in zip(got, want):
        assert g.mixture == pytest.approx(w.mixture, abs=1e-9)
    rec = proposals.recommend(preempted.exp, [], got)[1]
    ref = proposals.recommend(plain.exp, [], want)[1]
    assert rec.mixture == pytest.approx(ref.mixture, abs=1e-9) and rec.mean == pytest.approx(ref.mean)


def test_a_trial_preempted_more_often_than_allowed_fails_with_its_summed_cost(tmp_path):
    controller = _controller(
        tmp_path,
        "exp",
        ["experiment.max_restarts = 1", _preempt("trial_00001", 5)],
    )
    t = controller.store.add(MIXTURE, "xs", controller.runs_root)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert got.status == "failed" and "preempted on its start 2, after 1 restarts" in got.error
    assert got.restarts == 1 and got.flops == pytest.approx(2 * 6e6 * 128)


class _LosingExecutor(VirtualExecutor):
    """Its first job of every trial vanishes as on a lost node: ended, an error, no result."""

    def submit(self, command, run_dir, slot):
        if any(name == run_dir.name for name, _, _ in self.submitted):
            return super().submit(command, run_dir, slot)
        job = VirtualJob(command, run_dir, self.clock)
        job._lock.close()
        job.finished, job.code = True, -9
        self.submitted.append((run_dir.name, slot, job))
        return job


def test_a_trial_lost_with_its_node_is_started_again(tmp_path):
    controller = _controller(tmp_path, "exp", executor=_LosingExecutor)
    t = controller.store.add(MIXTURE, "xs", controller.runs_root)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert got.status == "ok" and got.restarts == 1
    assert [r["status"] for r in invocations.earlier(got.run_dir)] == ["lost"]


def test_only_the_checkpoint_rungs_write_checkpoints(tmp_path):
    controller = _controller(tmp_path, "exp", ["experiment.checkpoint_rungs = ['m']"])
    for rung in ("xs", "m"):
        controller.store.add(MIXTURE, rung, controller.runs_root)
    controller.run_unfinished()
    off = "--gin.TrainConfig.checkpoint_every=0"
    switched_off = {name: off in job.command for name, _, job in controller.executor.submitted}
    assert switched_off == {"trial_00001": True, "trial_00002": False}


class _SilentExecutor(VirtualExecutor):
    """Its jobs never end, and polling them raises, as a cluster whose queue has gone away."""

    def submit(self, command, run_dir, slot):
        job = super().submit(command, run_dir, slot)
        job.end = math.inf

        def done():
            raise RuntimeError("squeue: connection refused")

        job.done = done
        return job


def test_a_trial_whose_executor_stops_answering_fails_after_the_timeout(tmp_path):
    lines = []
    controller = _controller(tmp_path, "exp", ["Runtime.trial_timeout_seconds = 100"], executor=_SilentExecutor)
    controller.log = lines.append
    t = controller.store.add(MIXTURE, "xs", controller.runs_root)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert got.status == "failed" and "no result 100 s after its launch" in got.error
    assert 100 < got.wall_seconds <= 100 + 30  # noticed at the next poll (30 s apart at most)
    assert sum("does not answer (RuntimeError: squeue: connection refused)" in line for line in lines) == 1


def test_a_preempted_result_left_by_a_resubmitting_executor_is_archived_and_the_trial_runs_again(tmp_path):
    run_dir = tmp_path / "trial_00001"
    run_dir.mkdir()
    (run_dir / "mixture.json").write_text(json.dumps({"mixture": MIXTURE}))
    write_result(str(run_dir), {"status": "preempted", "step": 1, "resumable": True, "wall_seconds": 5.0})
    args = [f"--mixture={run_dir / 'mixture.json'}", f"--run_dir={run_dir}", "--preset=1m", "--gin.TRAIN_TOKENS=256"]
    assert trial.main([str(run_dir), "admire_jax.experiment.synthetic:main", *args]) == 0
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"
    assert invocations.earlier(run_dir) == [{"status": "preempted", "step": 1, "resumable": True, "wall_seconds": 5.0}]
    cost = invocations.total_cost(invocations.earlier(run_dir), {"flops": 10.0, "wall_seconds": 2.0})
    assert (cost.flops, cost.wall_seconds, cost.wasted_flops) == (10.0, 7.0, 0.0)  # resumed: nothing wasted
