"""Asynchronous scheduling on a virtual clock: the synthetic trainer, no real time, no processes."""

import json
import random

import pytest

from admire_jax.experiment import config, proposals
from admire_jax.experiment.controller import Controller
from tests.experiment.helpers import SMOKE, SYNTHETIC
from tests.experiment.virtual import Abandon, Abandoned, VirtualClock, VirtualExecutor

BUDGET = 1.6e10  # synthetic FLOPs: 1.5e9 (xs), 2.3e9 (s) and 3.1e9 (m) per trial
ASYNC = SYNTHETIC + [
    "experiment.max_trials = None",
    f"experiment.budget = {BUDGET}",
    "experiment.seed_per_trial = True",
    "Runtime.poll_seconds = 1.0",
    "Runtime.max_poll_seconds = 8.0",
    "Runtime.max_running = {'m': 1}",
]


def _run(tmp_path, name, abandon=None, bindings=()):
    """The experiment to its end on a virtual clock, started again after each abandonment."""
    clock = VirtualClock(abandon)
    exp = config.load(SMOKE, ASYNC + list(bindings))
    exp.runtime.executor = VirtualExecutor(clock, slots=2)
    starts = 0
    while True:
        starts += 1
        try:
            controller = Controller(exp, tmp_path / name, log=lambda line: None, clock=clock, sleep=clock.sleep)
            controller.search()
            return controller, starts
        except Abandoned:
            continue


def _rows(controller):
    return [
        (t.id, t.role, t.rung, t.status, t.seed, t.slot, t.started, t.finished, t.flops, json.dumps(t.basis))
        for t in controller.store.trials()
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted experiment, with the number of moments where it could have been killed."""
    counter = Abandon()
    with pytest.MonkeyPatch.context() as monkeypatch, counter.on_store_writes(monkeypatch):
        controller = _run(tmp_path_factory.mktemp("async"), "reference", counter)[0]
    return controller, counter.ticks


def test_a_slot_freed_by_a_cheap_trial_is_used_before_a_long_trial_ends(reference):
    trials = reference[0].store.trials()
    assert len({t.rung for t in trials}) > 1, "the search should use more than one rung"
    overlapping = [
        (long, t) for long in trials if long.rung == "m" for t in trials if long.started < t.started < long.finished
    ]
    proposed = [(long, t) for long, t in overlapping if "pending" in t.basis]
    assert proposed, "no trial was proposed while a target-rung trial ran"
    for long, t in proposed:  # the new trial knew the long one as pending, not as finished
        assert long.id in t.basis["pending"] and long.id not in t.basis["finished"]


def test_every_proposal_is_replayed_from_its_record_and_pending_trials_are_fantasised(reference):
    exp, trials = reference[0].exp, reference[0].store.trials()
    with_pending = [t for t in trials if t.basis and t.basis.get("pending")]
    assert with_pending, "no proposal was made while other trials ran"
    for t in trials:
        if t.basis is None:
            continue
        mixture, rung = proposals.replay(exp, [], trials, t.basis)
        assert rung == t.basis.get("asked_rung", t.rung) and mixture == pytest.approx(t.mixture, abs=1e-6)
    moved = 0
    for t in with_pending:  # without its fantasies the same ask proposes something else
        alone = dict(t.basis, pending=[])
        mixture, rung = proposals.replay(exp, [], trials, alone)
        moved += rung != t.basis.get("asked_rung", t.rung) or mixture != pytest.approx(t.mixture, abs=1e-4)
    assert moved > 0


def test_the_budget_is_overshot_by_at_most_one_trial(reference):
    searched = [t for t in reference[0].store.trials() if t.role == "search"]
    spent = reference[0].spent(searched)
    assert all(t.is_finished for t in searched)
    assert BUDGET <= spent < BUDGET + max(t.flops for t in searched)


def test_slots_stay_busy_and_the_target_rung_keeps_to_its_cap(reference):
    from admire_jax.experiment import progress

    controller = reference[0]
    trials = controller.store.trials()
    assert progress.utilisation(trials, 2, controller.clock()) > 0.8  # idle only until a poll notices an end
    text = progress.progress_text(controller, controller.clock())
    assert "running: 0 of 2 slots" in text and "slot utilisation" in text and "ETA: about" in text
    at_m = sorted((t.started, t.finished) for t in trials if t.rung == "m")
    assert len(at_m) > 1 and all(end <= start for (_, end), (start, _) in zip(at_m, at_m[1:]))
    assert any("asked_rung" in t.basis for t in trials), "no proposal for the full target rung was moved"


def test_abandoned_at_ten_random_moments_gives_the_uninterrupted_experiment(reference, tmp_path, monkeypatch):
    reference, moments = reference[0], sorted(random.Random(0).sample(range(1, reference[1]), 10))
    with Abandon(moments).on_store_writes(monkeypatch) as abandon:
        resumed, starts = _run(tmp_path, "abandoned", abandon)
    assert starts == 11
    assert _rows(resumed) == _rows(reference)
    for got, want in zip(resumed.store.trials(), reference.store.trials()):
        assert got.mixture == pytest.approx(want.mixture, abs=1e-9) and got.losses == want.losses
    runs = [name for name, _, _ in resumed.executor.submitted]
    assert len(runs) == len(set(runs)) == len(resumed.store.trials()), "a trial was started twice"
    rec = proposals.recommend(resumed.exp, [], resumed.store.trials())[1]
    ref = proposals.recommend(reference.exp, [], reference.store.trials())[1]
    assert rec.mixture == pytest.approx(ref.mixture, abs=1e-9) and rec.mean == pytest.approx(ref.mean)


def test_uniform_check_trials_fill_the_slots_the_search_leaves_idle(tmp_path):
    controller, _ = _run(tmp_path, "checked", bindings=["experiment.check_seeds = 2"])
    trials = controller.store.trials()
    early = [t for t in trials if t.role == "uniform"]
    last_search_end = max(t.finished for t in trials if t.role == "search")
    assert early and min(t.started for t in early) < last_search_end, "the check waited for the search"
    assert controller.spent([t for t in trials if t.role == "search"]) < BUDGET + 3.1e9  # checks come on top
    controller.check(
        proposals.as_mixture(proposals.recommend(controller.exp, [], trials)[1].mixture, controller.spec.domains)
    )
    checks = sorted((t.role, t.seed) for t in controller.store.trials() if t.role != "search")
    assert checks == [("recommended", 0), ("recommended", 1), ("uniform", 0), ("uniform", 1)]
