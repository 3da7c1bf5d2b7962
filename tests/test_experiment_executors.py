"""Executors start real commands and report how they ended."""
import os
import sys
import time

import pytest

from admire_jax.experiment.executors import CommandTemplateExecutor, LocalExecutor, SlurmExecutor

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
        job = executor.submit([sys.executable, "-c", _WRITE.replace("'out.txt'", repr(str(run_dir / "out.txt")))], run_dir, slot)
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
