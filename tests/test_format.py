"""The whole tree keeps the one style configured in pyproject.toml (ruff format and lint)."""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the test install (setup.py extra 'test')"
    return subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)


def test_tree_is_formatted():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, f"run `ruff format .`:\n{result.stdout}{result.stderr}"


def test_tree_passes_lint():
    result = _ruff("check", ".")
    assert result.returncode == 0, f"run `ruff check --fix .`:\n{result.stdout}{result.stderr}"
