"""Taking charge of trials left by a killed controller, and the trial entry point (no BO, no training)."""

import json
import subprocess
import sys

import pytest

from admire_jax.experiment import config, trial, trial_lock
from admire_jax.experiment.controller import Controller
from admire_jax.experiment.executors import CommandTemplateExecutor, LocalExecutor, SlurmExecutor
from admire_jax.experiment.spec import SpecError
from tests.experiment.helpers import SMOKE, SYNTHETIC

MIXTURE = {"python_code": 0.5, "python_tests": 0.1, "c_code": 0.1, "docstrings": 0.1, "markdown": 0.1, "licenses": 0.1}


class _CountingExecutor(LocalExecutor):
    def __init__(self):
        super().__init__(slots=1, cpus_per_trial=1)
        self.submitted = []
        self.commands = []

    def submit(self, command, run_dir, slot):
        self.submitted.append(run_dir)
        self.commands.append(command)
        return super().submit(command, run_dir, slot)


@pytest.fixture
def controller(tmp_path):
    exp = config.load(SMOKE, SYNTHETIC)
    exp.runtime.executor = _CountingExecutor()
    return Controller(exp, tmp_path / "exp", log=lambda line: None)


def _running_trial(controller):
    t = controller.store.add(MIXTURE, "xs", controller.runs_root)
    controller.store.mark_running(t.id)
    return t


def _synthetic_result(run_dir, loss=3.0):
    from admire_jax.train.result import make_result, write_result

    write_result(
        str(run_dir),
        make_result(
            mixture=MIXTURE,
            preset="1m",
            params=1,
            tokens=256,
            steps=2,
            wall_seconds=1.0,
            flops=123.0,
            val_loss={"python_reference": loss},
            status="ok",
        ),
    )


_LIVE_TRIAL = """
import sys, time
from admire_jax.experiment import trial_lock
from admire_jax.train.result import make_result, write_result
with trial_lock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.0)
    write_result(sys.argv[1], make_result(mixture={}, preset="1m", params=1, tokens=1, steps=1, wall_seconds=1.0,
                 flops=7.0, val_loss={"python_reference": 2.5}, status="ok"))
"""


def test_a_live_trial_of_a_killed_controller_is_waited_for_not_restarted(controller):
    t = _running_trial(controller)
    live = subprocess.Popen([sys.executable, "-c", _LIVE_TRIAL, t.run_dir], stdout=subprocess.PIPE, text=True)
    assert live.stdout.readline().strip() == "held"
    controller.run_unfinished()
    live.wait()
    got = controller.store.get(t.id)
    assert got.status == "ok" and got.losses == {"python_reference": 2.5} and got.flops == 7.0
    assert controller.executor.submitted == []


def test_a_finished_but_unrecorded_trial_is_adopted_once(controller):
    t = _running_trial(controller)
    _synthetic_result(t.run_dir)
    controller.run_unfinished()
    assert controller.store.get(t.id).status == "ok" and controller.executor.submitted == []
    controller.run_unfinished()  # a second pass finds nothing to do: never recorded twice
    assert controller.store.trials("ok") == [controller.store.get(t.id)]


def test_a_dead_trial_without_result_is_relaunched(controller):
    t = _running_trial(controller)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert controller.executor.submitted == [controller.runs_root / f"trial_{t.id:05d}"]
    assert got.status == "ok" and got.losses["python_reference"] > 2.0 and got.flops == 6e6 * 256


def test_a_crashing_trainer_is_recorded_as_failed_with_its_error(tmp_path):
    # json.loads exists, so the spec accepts it; called with the trainer's argument list it raises
    exp = config.load(SMOKE, ["experiment.trainer = 'json:loads'", "Runtime.poll_seconds = 0.05"])
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None)
    t = controller.store.add(MIXTURE, "xs", controller.runs_root)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert got.status == "failed" and "TypeError" in got.error


@pytest.mark.parametrize(
    "trainer, message",
    [
        ("admire_jax.no_such_module:main", "cannot import 'admire_jax.no_such_module'"),
        ("admire_jax.experiment.synthetic:no_such_function", "has no function 'no_such_function'"),
        ("admire_jax.experiment.synthetic", "trainer must be 'module:function'"),
    ],
)
def test_any_trainer_is_checked_before_a_trial_runs(trainer, message):
    with pytest.raises(SpecError, match=message):
        config.load(SMOKE, [f"experiment.trainer = {trainer!r}"])


def test_trial_entry_point_refuses_a_second_copy_and_a_finished_trial(tmp_path):
    run_dir = tmp_path / "trial_00001"
    with trial_lock.hold(run_dir):
        busy = subprocess.run(
            trial.command(str(run_dir), "admire_jax.experiment.synthetic:main", []),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert busy.returncode == trial.EXIT_BUSY and "not starting a second copy" in busy.stderr
    _synthetic_result(run_dir, loss=1.25)
    assert trial.main([str(run_dir), "admire_jax.no_such_module:main"]) == 0
    assert json.loads((run_dir / "result.json").read_text())["val_loss"] == {"python_reference": 1.25}


def test_controller_refuses_a_directory_of_another_experiment(tmp_path):
    Controller(config.load(SMOKE, SYNTHETIC), tmp_path / "exp")
    with pytest.raises(ValueError, match="this experiment was started with spec="):
        Controller(config.load(SMOKE, SYNTHETIC + ["experiment.seed = 7"]), tmp_path / "exp")


@pytest.mark.parametrize(
    "make_executor",
    [
        lambda tmp: CommandTemplateExecutor("cd {run_dir} && {command}", slots=1),
        pytest.param(
            lambda tmp: SlurmExecutor(folder=str(tmp / "submitit"), slots=1, cluster="local", timeout_min=5),
            marks=pytest.mark.slow,
        ),
    ],
    ids=["command_template", "slurm_local"],
)
def test_trials_run_through_each_executor(tmp_path, make_executor):
    exp = config.load(SMOKE, SYNTHETIC)
    exp.runtime.executor = make_executor(tmp_path)
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None)
    t = controller.store.add(MIXTURE, "s", controller.runs_root)
    controller.run_unfinished()
    got = controller.store.get(t.id)
    assert got.status == "ok" and got.flops == 6e6 * 384, got.error


def test_other_workers_of_a_multi_host_trial_run_without_the_lock(tmp_path, monkeypatch):
    run_dir = tmp_path / "trial_00001"
    (run_dir).mkdir()
    (run_dir / "mixture.json").write_text(json.dumps({"mixture": MIXTURE}))
    args = [f"--mixture={run_dir / 'mixture.json'}", f"--run_dir={run_dir}", "--preset=1m", "--gin.TRAIN_TOKENS=256"]
    monkeypatch.setenv("TPU_WORKER_ID", "1")
    with trial_lock.hold(run_dir):  # worker 0 holds it
        assert trial.main([str(run_dir), "admire_jax.experiment.synthetic:main", *args]) == 0
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"


def test_check_trains_recommended_and_uniform_per_seed_and_adds_only_missing_seeds(tmp_path):
    from admire_jax.experiment.report import check_values

    exp = config.load(SMOKE, SYNTHETIC + ["experiment.check_seeds = 1"])
    Controller(exp, tmp_path / "exp", log=lambda line: None).check(MIXTURE)
    more = config.load(SMOKE, SYNTHETIC + ["experiment.check_seeds = 2"])  # may change when continuing
    controller = Controller(more, tmp_path / "exp", log=lambda line: None)
    controller.check(MIXTURE)
    trials = controller.store.trials()
    assert sorted((t.role, t.seed, t.rung) for t in trials) == [
        ("recommended", 0, "m"),
        ("recommended", 1, "m"),
        ("uniform", 0, "m"),
        ("uniform", 1, "m"),
    ]
    values = check_values(trials, more.spec)
    assert values["recommended"]["values"] == [pytest.approx(values["recommended"]["mean"])] * 2
    assert values["uniform"]["mean"] != pytest.approx(values["recommended"]["mean"])


def test_search_trials_train_with_their_own_recorded_seeds(tmp_path):
    exp = config.load(
        SMOKE, SYNTHETIC + ["experiment.seed_per_trial = True", "experiment.max_trials = 3", "experiment.budget = 1e12"]
    )
    exp.runtime.executor = _CountingExecutor()
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None)
    controller.search()
    trials = controller.store.trials()
    assert [t.seed for t in trials] == [exp.spec.search_seed(n) for n in range(3)] and len(
        {t.seed for t in trials}
    ) == 3
    for t, command in zip(trials, exp.runtime.executor.commands):  # each trains with the seed recorded for it
        assert f"--gin.TrainConfig.seed={t.seed}" in command


def test_the_search_ends_by_retraining_its_best_target_mixtures_with_new_seeds(tmp_path):
    from admire_jax.experiment import proposals

    # smoke rungs: a synthetic m trial measures 3.07e9 FLOPs, the 4 confirmations reserve 4 x 8.3e8 declared,
    # so the 3 initial m trials (9.2e9) reach budget - reserve and the phase begins after them
    exp = config.load(
        SMOKE,
        SYNTHETIC
        + [
            "experiment.seed_per_trial = True",
            "experiment.initial_rungs = ['m']",
            "experiment.initial_trials = 3",
            "experiment.max_trials = None",
            "experiment.confirm_top = 2",
            "experiment.confirm_seeds = 2",
            "experiment.budget = 1.1e10",
        ],
    )
    controller = Controller(exp, tmp_path / "exp", log=lambda line: None)
    reason = controller.search()
    trials = controller.store.trials()
    assert controller.store.meta("confirm_from") == "3" and len(trials) == 3 + 4
    assert "the last 4 trials confirming the best target mixtures" in reason
    best_two = sorted(trials[:3], key=lambda t: exp.spec.objective.value(t.losses, t.scores))[:2]
    confirmed = [t.mixture for t in trials[3:]]
    assert [t.rung for t in trials[3:]] == ["m"] * 4
    for t in best_two:  # the two best of three, each trained twice more
        assert sum(all(abs(m[d] - t.mixture[d]) < 1e-9 for d in m) for m in confirmed) == 2
    assert len({t.seed for t in trials}) == 7  # every confirmation with a seed of its own
    planned = proposals.confirmations(exp, [], trials[:3])
    assert [(round(m["c_code"], 9), r) for m, r in planned] == [
        (round(t.mixture["c_code"], 9), t.rung) for t in trials[3:]
    ]
    again = Controller(exp, tmp_path / "exp", log=lambda line: None)  # continuing adds nothing
    assert "confirming" in again.search() and len(again.store.trials()) == 7


def test_confirmations_need_a_seed_per_trial_and_room_in_the_budget():
    with pytest.raises(SpecError, match="set experiment.seed_per_trial = True"):
        config.load(SMOKE, SYNTHETIC + ["experiment.confirm_top = 2", "experiment.seed_per_trial = False"])
    with pytest.raises(SpecError, match="leaves nothing to search after the 6 confirmation trials"):
        config.load(
            SMOKE,
            SYNTHETIC
            + [
                "experiment.confirm_top = 3",
                "experiment.confirm_seeds = 2",
                "experiment.seed_per_trial = True",
                "experiment.budget = 4e9",
            ],
        )
