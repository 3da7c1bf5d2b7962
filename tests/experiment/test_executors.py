"""Executors start real commands and report how they ended."""

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from admire_jax.experiment import trial
from admire_jax.experiment.executors import CommandTemplateExecutor, LocalExecutor, SlurmExecutor
from admire_jax.train.result import make_result, write_result

ROOT = Path(__file__).resolve().parents[2]
# Trainer arguments with spaces, quotes, brackets and shell syntax, as gin bindings can hold them.
AWKWARD_ARGUMENTS = [
    "--gin.TransformerConfig.d_model = 64",
    "--gin.experiment.domains=['python code', \"it's\", 'a\"b']",
    "--gin.TrainConfig.name='[x] $(echo expanded) `echo ticks` $HOME; exit 3'",
    "--gin.empty=",
    "",
]
# Stands in for `gcloud compute tpus tpu-vm ssh HOST --worker=all --command=CMD`: a remote shell runs CMD.
FAKE_SSH = """#!/usr/bin/env bash
for arg in "$@"; do
  case "$arg" in --command=*) exec bash -c "${arg#--command=}" ;; esac
done
exit 64
"""

_WRITE = "import os, pathlib; pathlib.Path('out.txt').write_text(str(sorted(os.sched_getaffinity(0))))"


def _wait(job, timeout=60.0):
    deadline = time.time() + timeout
    while not job.done():
        assert time.time() < deadline, "job did not finish"
        time.sleep(0.05)


def test_local_executor_pins_slots_to_their_own_cores(tmp_path):
    executor = LocalExecutor(slots=2, cpus_per_trial=1)
    cores = sorted(os.sched_getaffinity(0))
    seen = []
    for slot in range(2):
        run_dir = tmp_path / f"t{slot}"
        job = executor.submit(
            [sys.executable, "-c", _WRITE.replace("'out.txt'", repr(str(run_dir / "out.txt")))], run_dir, slot
        )
        _wait(job)
        assert job.error() is None
        seen.append((run_dir / "out.txt").read_text())
    assert seen[0] == str([cores[0]])
    assert seen[1] == str([cores[1 % len(cores)]])


def test_local_executor_reports_a_failing_command_with_its_log(tmp_path):
    job = LocalExecutor().submit([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path, 0)
    _wait(job)
    err = job.error()
    assert err.startswith("exit code 3") and "boom" in err


def test_command_template_executor_fills_fields_per_slot(tmp_path):
    executor = CommandTemplateExecutor(
        "cd {run_dir} && echo {tpu} > host.txt && {command}", slots=2, fields={"tpu": ["pod-a", "pod-b"]}
    )
    job = executor.submit([sys.executable, "-c", "open('ran.txt', 'w').write('yes')"], tmp_path, 1)
    _wait(job)
    assert job.error() is None
    assert (tmp_path / "host.txt").read_text().strip() == "pod-b"
    assert (tmp_path / "ran.txt").read_text() == "yes"


def record_arguments(args):
    """A trainer that writes the arguments it was given to its run directory, and an ok result."""
    run_dir = next(a.split("=", 1)[1] for a in args if a.startswith("--run_dir="))
    Path(run_dir, "arguments.json").write_text(json.dumps(args))
    write_result(
        run_dir,
        make_result(
            mixture={},
            preset="none",
            params=0,
            tokens=0,
            steps=0,
            wall_seconds=0.0,
            flops=0.0,
            val_loss={},
            status="ok",
        ),
    )
    return 0


@pytest.mark.parametrize(
    "template, python",
    [
        ("cd {run_dir} && {command}", None),
        ("bash -c 'cd {run_dir} && {command}'", None),
        (
            "fake-ssh {tpu} --worker=all --command='cd {run_dir} && bash -c \"echo on {tpu} && {command}\"'",
            "remote-python",
        ),
    ],
    ids=["plain", "nested", "ssh_double_nested"],
)
def test_a_trial_keeps_its_arguments_through_nested_quoting(tmp_path, monkeypatch, template, python):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in [("fake-ssh", FAKE_SSH), ("remote-python", f'#!/bin/sh\nexec {sys.executable} "$@"\n')]:
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run_dir = tmp_path / "runs" / "trial_00001"
    args = [f"--run_dir={run_dir}", *AWKWARD_ARGUMENTS]
    command = trial.command(str(run_dir), f"{__name__}:record_arguments", args)
    job = CommandTemplateExecutor(template, fields={"tpu": "pod-a"}, python=python).submit(command, run_dir, 0)
    _wait(job)
    assert job.error() is None
    assert json.loads((run_dir / "arguments.json").read_text()) == args
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"
    script = (run_dir / "trial_command.sh").read_text()
    assert f"exec {python or sys.executable} -m admire_jax.experiment.trial" in script


def test_a_run_directory_a_shell_would_split_is_refused(tmp_path):
    executor = CommandTemplateExecutor("bash -c '{command}'")
    with pytest.raises(ValueError, match="run directory .* characters a shell would split"):
        executor.submit(["true"], tmp_path / "my runs", 0)


def test_command_template_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="must contain"):
        CommandTemplateExecutor("ssh host")
    with pytest.raises(ValueError, match="names 'tpu'"):
        CommandTemplateExecutor("ssh {tpu} {command}").submit(["true"], tmp_path, 0)


@pytest.mark.slow
def test_slurm_executor_through_submitit_local_backend(tmp_path):
    executor = SlurmExecutor(folder=str(tmp_path / "submitit"), cluster="local", timeout_min=2)
    ok = executor.submit([sys.executable, "-c", "open('ran.txt', 'w').write('yes')"], tmp_path / "ok", 0)
    bad = executor.submit([sys.executable, "-c", "raise SystemExit(4)"], tmp_path / "bad", 1)
    _wait(ok, 120)
    _wait(bad, 120)
    assert ok.error() is None and (tmp_path / "ok" / "ran.txt").read_text() == "yes"
    assert bad.error() is not None


# A trial that is taken away on its first start, then completes: either it ends "preempted" (exit
# 75, as the trainer does after SIGTERM), or its job is lost (its submitit job process is killed).
PREEMPTED_ONCE = (
    "import json, pathlib, sys; p = pathlib.Path('result.json'); first = not p.exists(); "
    "p.write_text(json.dumps({'status': 'preempted' if first else 'ok'})); sys.exit(75 if first else 0)"
)
LOST_ONCE = (
    "import os, pathlib, signal, sys; p = pathlib.Path('started'); first = not p.exists(); p.touch(); "
    "first and os.kill(int(os.environ['SUBMITIT_LOCAL_JOB_ID']), signal.SIGKILL); "
    "first and sys.exit(1); pathlib.Path('result.json').write_text('{\"status\": \"ok\"}')"
)


@pytest.mark.slow
def test_slurm_executor_resubmits_a_preempted_or_lost_trial_until_it_completes(tmp_path):
    executor = SlurmExecutor(folder=str(tmp_path / "submitit"), cluster="local", timeout_min=2, max_resubmissions=1)
    jobs = {
        name: executor.submit([sys.executable, "-c", script], tmp_path / name, slot)
        for slot, (name, script) in enumerate([("preempted", PREEMPTED_ONCE), ("lost", LOST_ONCE)])
    }
    for name, job in jobs.items():
        _wait(job, 120)
        assert job.error() is None and job.invocations == 2, name
        assert json.loads((tmp_path / name / "result.json").read_text()) == {"status": "ok"}


@pytest.mark.slow
def test_slurm_executor_without_resubmissions_reports_the_preemption(tmp_path):
    executor = SlurmExecutor(folder=str(tmp_path / "submitit"), cluster="local", timeout_min=2)
    job = executor.submit([sys.executable, "-c", PREEMPTED_ONCE], tmp_path / "run", 0)
    _wait(job, 120)
    assert job.invocations == 1 and "75" in job.error()
    assert json.loads((tmp_path / "run" / "result.json").read_text()) == {"status": "preempted"}


def test_slurm_executor_refuses_a_negative_resubmission_cap(tmp_path):
    with pytest.raises(ValueError, match="max_resubmissions must be >= 0"):
        SlurmExecutor(folder=str(tmp_path), cluster="local", max_resubmissions=-1)
