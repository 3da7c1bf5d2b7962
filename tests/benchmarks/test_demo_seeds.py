"""benchmarks/demo_seeds.py with the synthetic trainer: the demo's command per seed, then its table."""

import json

from benchmarks import demo_seeds
from tests.experiment.helpers import SMOKE, SYNTHETIC


def test_runs_each_seed_once_and_tabulates_the_check(tmp_path):
    out, record = tmp_path / "seeds", tmp_path / "seeds.json"
    argv = [*(f"--gin_file={f}" for f in SMOKE), *(f"--gin={b.replace(' = ', '=')}" for b in SYNTHETIC)]
    argv += ["--gin=CHECK_SEEDS=2", "--seeds=7", f"--out={out}", f"--json={record}", f"--markdown={tmp_path / 's.md'}"]
    demo_seeds.main(argv)
    (row,) = json.loads(record.read_text())["rows"]
    assert row["seed"] == 7 and row["wall_seconds"] > 0
    assert sum(row["search_trials"].values()) >= 1
    assert row["recommended"]["seeds"] == row["uniform"]["seeds"] == [0, 1]
    gain = row["paired_gain"]
    assert gain["seeds"] == [0, 1]
    rec, uni = row["recommended"]["values"], row["uniform"]["values"]
    assert gain["mean"] == sum(u - r for r, u in zip(rec, uni)) / 2  # a loss: lower is better
    assert "| 7 |" in (tmp_path / "s.md").read_text()
    demo_seeds.main(argv)  # finished: read again, not run again
    assert json.loads(record.read_text())["rows"][0]["wall_seconds"] is None
