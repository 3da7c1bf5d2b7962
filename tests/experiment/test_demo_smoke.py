"""The demo, smoke-sized: real proxy training on the built-in corpus, BO, the check, the report."""

import json
import math
import os
import subprocess
import sys

import pytest

from admire_jax.experiment import config
from tests.experiment.helpers import SMOKE


@pytest.mark.slow
def test_smoke_demo_trains_recommends_checks_and_reports(tmp_path):
    exp_dir = tmp_path / "exp"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", "ADMIRE_JAX_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "admire_jax.cli",
            "optimize",
            *(f"--gin_file={f}" for f in SMOKE),
            f"--exp_dir={exp_dir}",
            "--gin.experiment.max_trials=2",
            "--check_seeds=1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])

    rec = json.loads((exp_dir / "recommendation.json").read_text())
    assert {"mixture", "target_rung", "predicted", "check"} <= set(rec) and rec["target_rung"] == "m"
    assert rec["maximize"] is False and rec["objective"] == {"numpy_stubs": 1.0}
    assert sum(rec["mixture"].values()) == pytest.approx(1.0) and set(rec["mixture"]) == set(
        config.load(SMOKE, []).spec.domains
    )
    assert math.isfinite(rec["predicted"])
    assert rec["check_gain"]["seeds"] == [0] and rec["check_gain"]["sem"] is None  # one seed: no standard error
    # trained models: below the loss of predicting every byte uniformly, where an untrained model starts
    from admire_jax.data import ByteTokenizer

    untrained = math.log(ByteTokenizer().vocab_size)
    assert all(rec["check"][role] < untrained - 0.5 for role in ("recommended", "uniform")), rec["check"]

    # each trial is a real training run; its FLOPs are exactly what the experiment priced its rung at
    exp = config.load(SMOKE, [])
    results = sorted((exp_dir / "runs").glob("trial_*/result.json"))
    assert len(results) == 2 + 2  # the 2 initial trials, then recommended and uniform at the target, 1 seed each
    for path in results:
        result = json.loads(path.read_text())
        assert result["status"] == "ok" and "numpy_stubs" in result["val_loss"]
        rung = next(r.name for r in exp.spec.ladder.rungs if r.tokens == result["tokens"])
        assert result["flops"] == pytest.approx(exp.rung_flops[rung])

    report = (exp_dir / "report.md").read_text()
    assert "## Did the search work?" in report and "## Check at the target rung" in report and "Leave-one-out" in report
    for name in ("recommendation_path.png", "check.png", "mixture.png", "calibration.png", "rank_correlation.png"):
        assert (exp_dir / name).stat().st_size > 1000, name
    assert "![mixture.png](mixture.png)" in report
