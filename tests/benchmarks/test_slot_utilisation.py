"""benchmarks/slot_utilisation.py at a tiny size: its synchronous rounds are rounds, and the table
reports both modes. (That the asynchronous controller fills freed slots at once:
tests/experiment/test_async.py.)"""

import pytest

from admire_jax.experiment.store import SEARCH, TrialStore
from benchmarks import slot_utilisation as bench


class _Job:
    def __init__(self):
        self.finished = False

    def done(self) -> bool:
        return self.finished


class _Executor:
    slots = 3

    def __init__(self):
        self.submitted = []

    def submit(self, command, run_dir, slot):
        job = _Job()
        self.submitted.append((run_dir, slot, job))
        return job


def test_rounds_executor_withholds_freed_slots_until_the_round_ends():
    inner = _Executor()
    rounds = bench.RoundsExecutor(inner)
    assert rounds.slots == 3
    jobs = [rounds.submit([], f"run{i}", i) for i in range(2)]
    assert rounds.slots == 3  # nothing of the round has finished: the third slot may still be filled
    jobs[0].finished = True
    assert rounds.slots == 1  # only the running trial's slot: the freed one is withheld
    jobs[1].finished = True
    assert rounds.slots == 3  # the round is over
    rounds.submit([], "run2", 0).finished = True
    assert rounds.slots == 3


def _overlapping_launches(trials):
    """Pairs (a, b) where b was launched while a, launched earlier, still ran."""
    return [(a, b) for a in trials for b in trials if a.started < b.started < a.finished]


@pytest.mark.slow
def test_a_tiny_run_measures_both_modes(tmp_path):
    rows = [bench.run(mode, slots=2, budget=1.2e10, seed=100, workdir=tmp_path) for mode in bench.MODES]
    stores = {mode: TrialStore(tmp_path / mode.replace(" ", "_") / "trials.sqlite") for mode in bench.MODES}
    searched = {mode: [t for t in store.trials() if t.role == SEARCH] for mode, store in stores.items()}
    assert not _overlapping_launches(searched["synchronous rounds"]), "a trial started inside a running round"
    for row in rows:
        assert 0 < row["utilisation"] <= 1 and row["virtual_seconds"] > 0
        assert row["spent"] >= 1.2e10 and sum(row["trials"].values()) == len(searched[row["mode"]])
        assert row["regret"] >= 0
    text = bench.table(rows, 2, 1.2e10)
    assert "| asynchronous |" in text and "| synchronous rounds |" in text and "xs 25.6" in text


@pytest.mark.parametrize("args", [["--slots", "1"], ["--budget", "0"]])
def test_bad_input_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exit:
        bench.main(args)
    assert exit.value.code == 2 and "must be" in capsys.readouterr().err
