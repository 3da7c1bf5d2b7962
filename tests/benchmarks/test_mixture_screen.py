"""benchmarks/mixture_screen.py with the synthetic trainer: every planned trial is trained once, through
the experiment's own trial setup, and the summary's statistics are those of the values."""

import json
import math

import pytest

from admire_jax.experiment import config
from benchmarks import mixture_screen as screen
from tests.experiment.helpers import SMOKE, SYNTHETIC


def test_screens_mixtures_at_each_rung_through_the_trial_setup_and_resumes(tmp_path, capsys):
    out, record, tilt = tmp_path / "runs", tmp_path / "screen.json", tmp_path / "tilt.json"
    tilt.write_text(json.dumps({"tilt": {"python_code": 3.0, "c_code": 1.0}}))
    argv = [*(f"--gin_file={f}" for f in SMOKE), *(f"--gin={b}" for b in SYNTHETIC), "--rungs=xs,m", "--seeds=0,1"]
    argv += [f"--screens=uniform,{tilt}", f"--out={out}", f"--json={record}"]
    screen.main(argv)
    data = json.loads(record.read_text())
    assert data["mixtures"]["tilt"]["python_code"] == pytest.approx(0.75)  # normalised, unnamed domains 0
    assert len(data["values"]) == 2 * 2 * 2 and all(math.isfinite(v["objective"]) for v in data["values"])
    target = data["summary"]["rungs"]["m"]["mixtures"]
    mean = [v["objective"] for v in data["values"] if v["rung"] == "m" and v["mixture"] == "uniform"]
    assert target["uniform"]["mean"] == pytest.approx(sum(mean) / 2)
    assert "xs" in data["summary"]["spearman_to_target"]
    first = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    assert len(first) == len(data["values"])
    screen.main(argv)  # everything is there: nothing is trained again
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == first
    assert "Rung m" in capsys.readouterr().out


def test_trial_gin_reaches_every_trial(tmp_path):
    exp = config.load(SMOKE, SYNTHETIC)
    first, second = sorted(exp.spec.domains)[:2]  # the stand-in diverges when `first` is above FAIL_ABOVE
    tilt = {d: 0.0 for d in exp.spec.domains} | {first: 0.75, second: 0.25}
    screen.run_trials(exp, [("m", "tilt", tilt, 0)], tmp_path, ["SYNTHETIC_FAIL_ABOVE = 0.5"])
    assert json.loads((tmp_path / "m_tilt_seed0" / "result.json").read_text())["status"] == "diverged"


def test_leave_one_out_and_heavy_screens():
    domains = ["a", "b", "c"]
    mixtures = screen.screen_mixtures(["uniform", "leave_one_out", "heavy"], domains)
    assert list(mixtures) == ["uniform", "without_a", "without_b", "without_c", "a_heavy", "b_heavy", "c_heavy"]
    assert mixtures["without_b"] == {"a": 0.5, "b": 0.0, "c": 0.5}
    assert mixtures["c_heavy"] == {"a": 0.25, "b": 0.25, "c": 0.5}
    assert screen.screen_mixtures(["without_b", "c_heavy"], domains) == {
        "without_b": mixtures["without_b"],
        "c_heavy": mixtures["c_heavy"],
    }
    with pytest.raises(SystemExit, match="unknown screen 'without_z'"):
        screen.screen_mixtures(["without_z"], domains)


def test_summary_pairs_seeds_and_pools_the_seed_spread():
    values = {("m", "uniform", 0): 2.0, ("m", "uniform", 1): 2.2, ("m", "tilt", 0): 1.9, ("m", "tilt", 1): 2.0}
    rows = screen.summarise(values, "m")["rungs"]["m"]
    tilt = rows["mixtures"]["tilt"]
    assert tilt["paired_difference"] == pytest.approx(-0.15)
    assert tilt["paired_se"] == pytest.approx(0.05)  # differences -0.1, -0.2: sd 0.0707 / sqrt(2)
    assert tilt["paired_in_se"] == pytest.approx(-3.0)
    assert rows["seed_sd"] == pytest.approx(math.sqrt((0.01 + 0.01 + 0.0025 + 0.0025) / 2))


def test_a_mixture_file_naming_an_unknown_domain_is_refused(tmp_path):
    bad = tmp_path / "mix.json"
    bad.write_text(json.dumps({"odd": {"klingon": 1.0}}))
    with pytest.raises(SystemExit, match="unknown domain"):
        screen.screen_mixtures([str(bad)], ["python_code", "c_code"])
