"""The metrics log: JSON lines and TensorBoard events, written without importing torch."""

import importlib.util
import subprocess
import sys

import pytest

PROGRAM = """
import sys
from admire_jax.train.metrics_log import MetricsLog, read_metrics
log = MetricsLog(sys.argv[1])
log.write(3, {"loss": 2.5, "grad_norm": None})
log.close()
assert read_metrics(sys.argv[1]) == [{"step": 3, "loss": 2.5}]
print("torch" in sys.modules)
import torch  # still importable afterwards
print(torch.zeros(1).shape[0])
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_logging_does_not_import_torch_where_it_is_installed(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
