"""benchmarks/accelerator_check.py on this machine's CPU: its rows, its table, and its skips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "accelerator_check.py"


def _check(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), f"--out={tmp_path}", *args], capture_output=True, text=True, env=env, timeout=600
    )
    return done


@pytest.mark.slow
def test_measures_a_small_preset_on_cpu_and_compares_with_validate(tmp_path):
    done = _check(
        tmp_path,
        "--presets",
        "1m",
        "--attention",
        "xla",
        "--repeats",
        "1",
        "--tokens_per_step",
        "256",
        "--seq_len",
        "64",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "cpu.json").read_text())
    assert report["device"]["platform"] == "cpu" and report["matmul_dtype"] == "float32"
    [row] = report["rows"]
    assert (row["preset"], row["attention"], row["batch"], row["seq_len"]) == ("1m", "xla", 4, 64)
    assert row["tokens_per_s"] > 0 and 0 < row["mfu_vs_matmul"] < 2
    assert row["validate"]["fits"] and row["validate"]["peak_bytes_per_device"] > 0
    assert row["measured_peak_bytes"] is None and row["process_peak_rss_bytes"] > 0  # CPUs report no memory statistics
    table = (tmp_path / "cpu.md").read_text()
    assert "| preset | attention | batch x seq | tokens/s |" in table
    assert table.count("\n| 1m | xla | 4 x 64 |") == 1 and "(process RSS)" in table
    assert "float32" in table.splitlines()[0]


@pytest.mark.slow
def test_a_preset_that_validate_says_does_not_fit_is_not_measured(tmp_path):
    done = _check(tmp_path, "--presets", "1m", "--seq_len", "64", "--validate_memory_gib", "0.001")
    assert done.returncode == 0, done.stderr
    [row] = json.loads((tmp_path / "cpu.json").read_text())["rows"]
    assert "does not fit" in row["skipped"] and "tokens_per_s" not in row
    assert "does not fit" in (tmp_path / "cpu.md").read_text()


def test_bad_input_is_refused_with_exit_2(tmp_path):
    done = _check(tmp_path, "--presets", "2m")
    assert done.returncode == 2 and "unknown preset '2m'" in done.stderr
    done = _check(tmp_path, "--repeats", "0")
    assert done.returncode == 2 and "--repeats must be >= 1" in done.stderr
