"""The report: whether the search worked (the check paired by seed, the recommendation's posterior as
the budget was spent, where the cost went), which fidelity model it used and what each rung told it."""

import json
import math
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

from admire_jax.bo import Optimizer, OptimizerConfig, Recommendation
from admire_jax.experiment import config, proposals, report
from admire_jax.experiment.controller import Controller
from admire_jax.experiment.fidelity_section import fidelity_section
from admire_jax.experiment.recommendation_path import cost_per_rung, evaluation_points, recommendation_path
from admire_jax.experiment.report import paired_gain, verdict
from admire_jax.experiment.store import Trial
from tests.experiment.helpers import SMOKE, SYNTHETIC
from tests.experiment.virtual import VirtualClock, VirtualExecutor


def _told(fidelities, model="ar1"):
    rng = np.random.default_rng(0)
    opt = Optimizer(["a", "b", "c"], fidelities, "target", config=OptimizerConfig(model=model))
    for i, w in enumerate(rng.dirichlet(np.ones(3), 12)):
        rung = list(fidelities)[i % len(fidelities)]
        opt.tell(w, rung, float(w[0] - w[1] ** 2))
    return opt


def test_states_the_model_and_a_correlation_per_cheap_rung():
    text = "\n".join(fidelity_section(_told({"tiny": 0.01, "mid": 0.1, "target": 1.0})))
    assert "Fidelity model: `ar1`" in text and "across the 12 mixtures tried" in text
    values = dict(re.findall(r"- (\w+): (-?[\d.]+)", text))
    assert set(values) == {"tiny", "mid"} and all(-1.0 <= float(v) <= 1.0 for v in values.values())


def test_a_single_rung_search_says_so():
    assert "One rung: a single-fidelity GP." in fidelity_section(_told({"target": 1.0}))


def _trial(i, rung, finished, flops, role="search", seed=0, status="ok", losses=None):
    return Trial(
        id=i,
        mixture={"a": 0.5, "b": 0.5},
        rung=rung,
        status=status,
        losses=losses,
        wall_seconds=1.0,
        flops=flops,
        run_dir=f"runs/trial_{i}",
        created=0.0,
        started=0.0,
        finished=finished,
        error=None,
        role=role,
        seed=seed,
    )


def test_evaluation_points_spread_over_the_cost_and_end_with_the_whole_run():
    costs = [1.0] * 30 + [100.0] * 3
    points = evaluation_points(costs, points=6)
    assert points[-1] == 33 and len(points) <= 6 and points == sorted(set(points))
    assert points[0] <= 31, "the cheap start is where the first sixth of the cost went"
    assert evaluation_points([], 5) == [] and evaluation_points([0.0, 0.0], 5) == [1, 2]


def test_the_path_refits_at_most_its_points_on_trials_in_order_of_finishing(monkeypatch):
    trials = [_trial(i, "xs" if i % 4 else "m", finished=100.0 - i, flops=1.0) for i in range(1, 61)]
    trials.append(_trial(61, "m", finished=None, flops=None, status="running"))
    seen = []

    def recommend(exp, warm, prefix):
        seen.append([t.id for t in prefix])
        return None if len(prefix) < 3 else (None, Recommendation(np.array([0.25, 0.75]), len(prefix), 0.1, None))

    monkeypatch.setattr(proposals, "recommend", recommend)
    exp = SimpleNamespace(spec=SimpleNamespace(domains=("a", "b")))
    path = recommendation_path(exp, [], trials, cost_of=lambda t: t.flops, points=8)
    assert len(seen) <= 8 and all(ids == sorted(ids) for ids in seen)
    assert set(seen[0]) == set(range(60, 60 - len(seen[0]), -1)), "the last trials finished first"
    assert [p.finished for p in path] == [len(ids) for ids in seen if len(ids) >= 3]
    assert path[-1].finished == 60 and path[-1].cost == 60.0 and path[-1].mixture == {"a": 0.25, "b": 0.75}
    assert path[-1].rung == "xs"  # trial 1 finished last


def test_cost_per_rung_adds_up_to_the_total():
    trials = [_trial(1, "xs", 3.0, 1.0), _trial(2, "m", 1.0, 5.0), _trial(3, "xs", 2.0, 1.0)]
    spending = cost_per_rung(trials, lambda t: t.flops, ["xs", "s", "m"])
    assert spending["total"] == [5.0, 6.0, 7.0]
    assert spending["per_rung"] == {"xs": [0.0, 1.0, 2.0], "s": [0.0] * 3, "m": [5.0] * 3}


def test_the_verdict_pairs_the_check_by_seed():
    check = {
        "recommended": {"mean": 2.75, "sem": 0.25, "values": [2.5, 3.0, math.nan], "seeds": [0, 1, 2]},
        "uniform": {"mean": 3.0, "sem": 0.4, "values": [3.0, 3.5, 3.25, 2.0], "seeds": [0, 1, 2, 3]},
    }
    gain = paired_gain(check)
    assert gain == {"mean": 0.5, "sem": 0.0, "seeds": [0, 1]}  # seed 2 failed, seed 3 has no pair
    assert verdict(check) == "recommended is lower than uniform by 0.5000 on each of 2 seeds"
    assert paired_gain(check, maximize=True)["mean"] == -0.5
    assert verdict(check, maximize=True).startswith("recommended is lower than uniform by 0.5000")
    # seed 1 is bad for both: the unpaired means differ by 0.4 of their standard error, the pairs by 3
    check["recommended"]["values"][1], check["uniform"]["values"][1] = 4.0, 4.25
    assert paired_gain(check)["sem"] == pytest.approx(0.125)
    assert verdict(check) == (
        "recommended is lower than uniform by 0.3750 ± 0.1250 over 2 seeds = 3.0 standard errors "
        "of the paired difference (more than two standard errors)"
    )
    check["uniform"]["values"][0] = 2.0
    assert "(not more than two standard errors)" in verdict(check) and "is higher" in verdict(check)
    check["uniform"]["values"][0] = math.nan
    assert verdict(check).endswith("on one seed (a standard error needs >= 2 seeds)")
    assert verdict({"recommended": None, "uniform": check["uniform"]}).startswith("not run")


# a multi-rung search with the stand-in trainer on a virtual clock (see tests/experiment/test_async.py)
VIRTUAL = SYNTHETIC + [
    "experiment.max_trials = None",
    "experiment.budget = 1.2e10",
    "experiment.seed_per_trial = True",
    "experiment.check_seeds = 2",
    "Runtime.poll_seconds = 1.0",
    "Runtime.max_poll_seconds = 8.0",
    "Runtime.max_running = {'m': 1}",
]


@pytest.mark.slow
def test_the_report_shows_first_whether_the_search_worked(tmp_path):
    clock = VirtualClock()
    exp = config.load(SMOKE, VIRTUAL)
    exp.runtime.executor = VirtualExecutor(clock, slots=2)
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None, clock=clock, sleep=clock.sleep)
    controller.search()
    started = time.perf_counter()
    assert report.finish(controller, run_check=True) == 0
    seconds = time.perf_counter() - started
    text = (tmp_path / "exp" / "report.md").read_text()
    summary = text.split("## Recommendation")[0]
    for part in (
        "## Did the search work?",
        "- Check at the target rung: recommended is ",  # the stand-in trainer ignores the seed: no SE
        "on each of 2 seeds",
        "![recommendation_path.png](recommendation_path.png)",
        "![check.png](check.png)",
        "## Fidelity model",
    ):
        assert part in summary, part
    assert re.search(r"spent [\d.e+]+ in \d+ search trials \(\d+ ok\): xs \d+%, s \d+%, m \d+%", text)
    for name in ("recommendation_path.png", "check.png", "mixture.png", "calibration.png", "rank_correlation.png"):
        assert (tmp_path / "exp" / name).stat().st_size > 1000, name
    rec = json.loads((tmp_path / "exp" / "recommendation.json").read_text())
    assert rec["check_gain"]["seeds"] == [0, 1] and math.isfinite(rec["check_gain"]["mean"])
    trials = controller.store.trials()
    path = recommendation_path(exp, [], trials, lambda t: controller.spent([t]))
    assert 1 < len(path) <= 20 and [p.cost for p in path] == sorted(p.cost for p in path)
    assert path[-1].mean == pytest.approx(rec["predicted"]) and path[-1].mixture == pytest.approx(rec["mixture"])
    assert {p.rung for p in path} <= set(exp.spec.ladder.names)
    assert seconds < 120, f"the report took {seconds:.0f} s"


def test_an_auto_model_names_the_model_chosen():
    text = "\n".join(fidelity_section(_told({"tiny": 0.01, "target": 1.0}, model="auto")))
    chosen = re.search(r"Fidelity model: `(.+?)` \(.*, chosen by leave-one-out predictive density of the target", text)
    assert chosen and chosen.group(1) in ("ar1", "ar1 (rho ~ HalfNormal(1))"), text
