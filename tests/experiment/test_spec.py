"""The experiment spec: the demo configs load, rungs are priced, bad input is exit 2 before training."""

import math
import re

import numpy as np
import pytest

from admire_jax.experiment import cli, config
from admire_jax.experiment.objective import Objective
from admire_jax.experiment.spec import Budget, ExperimentSpec, Rung, RungLadder, SearchSpace, SpecError, TrialSetup
from tests.experiment.helpers import SMOKE


def test_smoke_config_loads_with_rungs_priced_cheapest_first():
    exp = config.load(SMOKE, [])
    assert exp.spec.ladder.names == ["xs", "s", "m"]
    assert exp.spec.target_rung == "m" and exp.spec.objective == Objective({"numpy_stubs": 1.0}, maximize=False)
    flops = exp.rung_flops
    assert 0 < flops["xs"] < flops["s"] < flops["m"]
    # 1-layer 1m model, 4 x 32 tokens per step, 2 / 3 / 4 steps: FLOPs grow with the steps
    assert flops["s"] / flops["xs"] == pytest.approx(3 / 2) and flops["m"] / flops["xs"] == pytest.approx(2)
    assert exp.rung_costs == flops  # a FLOP budget: declared cost = FLOPs
    assert exp.runtime.executor.slots == 1


def test_fingerprint_ignores_when_to_stop_but_not_what_to_search():
    exp = config.load(SMOKE, [])
    more = config.load(
        SMOKE,
        [
            "experiment.budget = 9e9",
            "experiment.max_trials = 10",
            "experiment.max_restarts = 7",
            "experiment.checkpoint_rungs = ['m']",
        ],
    )
    other_seed = config.load(SMOKE, ["experiment.seed = 1"])
    assert exp.spec.fingerprint() == more.spec.fingerprint()
    assert exp.spec.fingerprint() != other_seed.spec.fingerprint()


def _spec(max_epochs=None):
    return ExperimentSpec(
        SearchSpace(("a", "b", "c"), max_epochs=max_epochs),
        Objective({"t": 1.0}, False),
        RungLadder((Rung("lo", "1m", 100), Rung("hi", "1m", 1000)), "hi"),
        Budget(1.0),
    )


def test_max_epochs_bounds_small_domains():
    spec = _spec(max_epochs=2.0)
    bounds = config.epoch_bounds(spec, {"a": 100, "b": 1000, "c": 10_000})
    # w_a * 1000 <= 2 * 100 -> w_a <= 0.2; b and c can take the whole budget twice over
    assert bounds == {"a": (0.0, 0.2)}
    with pytest.raises(SpecError, match="leaves no mixture"):
        config.epoch_bounds(spec, {"a": 10, "b": 10, "c": 10})


def test_weighted_objective():
    objective = Objective.parse({"a": 1.0, "b": 3.0})
    assert objective == Objective({"a": 0.25, "b": 0.75}, maximize=False)
    assert objective.value({"a": 2.0, "b": 4.0, "c": 9.0}) == pytest.approx(3.5)
    assert math.isnan(objective.value({"a": 2.0}))
    assert math.isnan(objective.value({"a": 2.0, "b": float("inf")}))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SearchSpace(("a",)), "at least 2 distinct domains"),
        (lambda: SearchSpace(("a", "a")), "at least 2 distinct domains"),
        (lambda: SearchSpace(("a", "b"), bounds={"c": (0.0, 0.5)}), "bounds name unknown domain(s) ['c']"),
        (lambda: SearchSpace(("a", "b"), max_epochs=0.0), "max_epochs must be positive"),
        (lambda: Objective({"a": -1.0}, False), "objective weights must be positive"),
        (lambda: Objective({}, False), "objective weights must be positive"),
        (lambda: Objective({"score:": 1.0}, True), "needs a score name"),
        (lambda: Rung("r", "1m", 0), "tokens must be >= 1"),
        (lambda: RungLadder((), "r"), "experiment.rungs is empty"),
        (lambda: RungLadder((Rung("r", "1m", 1), Rung("r", "1m", 2)), "r"), "rung names must be distinct"),
        (lambda: Budget(0.0), "budget must be positive"),
        (lambda: Budget(1.0, devices_per_trial=0), "devices_per_trial must be >= 1"),
        (lambda: TrialSetup(max_bytes=0), "max_bytes must be >= 1"),
    ],
)
def test_each_record_checks_itself(make, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "bindings, message",
    [
        (["experiment.domains = ['python_code', 'klingon']"], "unknown training domain(s) ['klingon']"),
        (["experiment.objective = 'elvish'"], "objective names unknown domain(s) ['elvish']"),
        (["experiment.rungs = {'xs': ('13m', 256), 'm': ('1m', 512)}"], "unknown preset '13m'"),
        (["experiment.budget = 1000.0"], "smaller than one trial of the cheapest rung 'xs'"),
        (["experiment.target_rung = 'xxl'"], "target_rung 'xxl' is not a rung"),
        (["experiment.budjet = 3"], "doesn't have a parameter named 'budjet'"),
        (["OptimizerConfig.acquisiton = 'mes'"], "gin configuration error"),
        (["experiment.budget_unit = 'parsecs'"], "budget_unit must be one of"),
        (["OptimizerConfig.acquisition = 'nope'"], "unknown acquisition 'nope'"),
        (["experiment.checkpoint_rungs = ['xl']"], "checkpoint_rungs names unknown rung(s) ['xl']"),
        (["experiment.max_restarts = -1"], "max_restarts must be >= 0"),
        (["Runtime.max_running = {'xl': 1}"], "Runtime.max_running names unknown rung(s) ['xl']"),
        (["Runtime.max_running = {'m': 0}"], "Runtime.max_running allows at least 1 trial per rung"),
        (["Runtime.poll_seconds = 60"], "Runtime.poll_seconds must be positive and at most max_poll_seconds"),
        (["Runtime.trial_timeout_seconds = 0"], "Runtime.trial_timeout_seconds must be positive"),
        (["TrainConfig.steps = 5"], "would never be read by the search: TrainConfig.steps; the trainer's"),
        (["builtin_targets.max_bytes = 1000"], "builtin_targets.max_bytes; the trials' text per built-in domain is"),
    ],
)
def test_bad_input_is_exit_2_before_training(tmp_path, capsys, bindings, message):
    argv = [f"--gin_file={f}" for f in SMOKE] + [f"--exp_dir={tmp_path / 'exp'}"]
    argv += [f"--gin.{b.replace(' = ', '=', 1)}" for b in bindings]
    assert cli.optimize(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "exp" / "runs").exists(), "nothing may be trained"


def test_the_users_bindings_that_the_controller_reads_or_forwards_are_accepted():
    bindings = ["LocalExecutor.cpus_per_trial = 1", "ModelConfig.noise_floor = 0.02", "MapFitConfig.max_iters = 30"]
    bindings += ["tfds_domain.data_dir = '/data/tfds'"]  # forwarded to the trials
    exp = config.load(SMOKE, bindings)
    assert exp.optimizer.model_config.noise_floor == 0.02


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.optimize(["--gin_file=configs/experiments/demo.gin"]) == 2
    assert "--exp_dir" in capsys.readouterr().err
    assert cli.status([f"--exp_dir={tmp_path / 'nothing'}"]) == 2
    assert "not an experiment directory" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "experiment.json").write_text('{"gin_files": [], "gin_bindings": []}')  # an earlier format
    assert cli.report([f"--exp_dir={old}"]) == 2
    assert "lacks ['gin_search_paths']" in capsys.readouterr().err
    assert cli.status([str(tmp_path)]) == 2
    assert "--exp_dir" in capsys.readouterr().err
    assert (
        cli.optimize(["--gin_file=configs/experiments/demo.gin", f"--exp_dir={tmp_path}", "--gin.experiment.q", "2"])
        == 2
    )
    assert "gin bindings are written --gin.NAME=VALUE (one argument)" in capsys.readouterr().err
    assert cli.optimize(["--gin_file=configs/experiments/demo.gin", "--exp_dir=gs://bucket/exp"]) == 2
    assert "gs://bucket/exp is object storage; the experiment folder holds a SQLite store" in capsys.readouterr().err
    assert cli.optimize(["--gin_file=configs/experiments/nope.gin", f"--exp_dir={tmp_path}"]) == 2
    assert "gin file not found" in capsys.readouterr().err


def test_costs_in_each_budget_unit():
    flops = Budget(1.0)
    assert flops.declared_cost(4e9) == 4e9
    assert flops.measured_cost(flops=5e9, wall_seconds=3.0) == 5e9
    seconds = Budget(1.0, unit="wall_seconds", assumed_flops_per_second=2e9)
    assert seconds.declared_cost(4e9) == pytest.approx(2.0)
    assert seconds.measured_cost(flops=5e9, wall_seconds=3.0) == 3.0
    hours = Budget(1.0, unit="device_hours", devices_per_trial=8)
    assert hours.measured_cost(flops=None, wall_seconds=900.0) == pytest.approx(2.0)


def test_weighted_objective_and_time_budget_from_gin():
    exp = config.load(
        SMOKE,
        [
            "experiment.objective = {'python_reference': 3, 'markdown': 1}",
            "experiment.budget_unit = 'wall_seconds'",
            "experiment.budget = 3600",
        ],
    )
    assert exp.spec.objective.weights == {"python_reference": 0.75, "markdown": 0.25}
    assert exp.rung_costs["m"] == pytest.approx(exp.rung_flops["m"] / exp.spec.budget.assumed_flops_per_second)
    with pytest.raises(SpecError, match="smaller than one trial"):
        config.load(SMOKE, ["experiment.budget_unit = 'wall_seconds'", "experiment.budget = 0.01"])


def test_check_verdict_counts_standard_errors():
    from admire_jax.experiment.report import verdict

    def check(rec, uni):
        return {role: {"values": v, "seeds": [0, 1]} for role, v in (("recommended", rec), ("uniform", uni))}

    assert "9.0 standard errors of the paired difference (more than two" in verdict(check([3.0, 3.0], [3.5, 3.625]))
    assert "(not more than two standard errors)" in verdict(check([3.0, 3.0], [3.0625, 3.0]))
    assert verdict({"recommended": None, "uniform": None}).startswith("not run")
    assert verdict(check([3.0, 3.0], [3.125, 3.125])).endswith("by 0.1250 on each of 2 seeds")


def test_max_epochs_bounds_come_from_the_corpus_token_counts():
    exp = config.load(SMOKE, ["experiment.max_epochs = 0.0005"])
    tokens = config.domain_tokens(exp.spec)
    assert set(exp.bounds) == set(exp.spec.domains)
    for d, (lo, hi) in exp.bounds.items():
        assert lo == 0.0 and hi == pytest.approx(0.0005 * tokens[d] / 512) and hi < 1.0
    from admire_jax.experiment.proposals import initial_design

    for mixture, rung in initial_design(exp):  # the start design already keeps to the bounds
        assert rung == "xs" and all(mixture[d] <= exp.bounds[d][1] + 1e-9 for d in mixture)


def test_leave_one_out_start_screens_each_domain_then_draws_at_random():
    from admire_jax.experiment.proposals import initial_design

    exp = config.load(
        SMOKE,
        [
            "experiment.initial_mixtures = 'leave_one_out'",
            "experiment.initial_trials = 9",
            "experiment.initial_rungs = ['xs', 'm']",
        ],
    )
    domains = exp.spec.domains
    design = initial_design(exp)
    assert [rung for _, rung in design] == ["xs"] * 9 + ["m"] * 9
    weights = np.array([[mixture[d] for d in domains] for mixture, _ in design[:9]])
    assert np.allclose(weights[0], 1 / 6)
    assert np.allclose(weights[1:7], (1 - np.eye(6)) / 5)  # domain i left out, the rest even
    assert np.all(weights[7:] > 0) and np.allclose(weights[7:].sum(1), 1) and not np.allclose(weights[7], weights[8])
    assert [m for m, _ in design[9:]] == [m for m, _ in design[:9]]  # the same mixtures at the target rung
    kept = config.load(
        SMOKE,
        [
            "experiment.initial_mixtures = 'leave_one_out'",
            "experiment.initial_trials = 7",
            "experiment.bounds = {'licenses': (0.1, 1.0)}",
        ],
    )
    mixtures = [m for m, _ in initial_design(kept)]  # a left-out domain with a lower bound cannot be left out
    assert len(mixtures) == 7 and all(m["licenses"] >= 0.1 - 1e-9 for m in mixtures)
    assert sum(np.isclose(m["python_code"], 0.0) for m in mixtures) == 1


def test_leave_one_out_needs_room_for_every_domain():
    with pytest.raises(SpecError, match=r"initial_trials must be >= 7, got 4"):
        config.load(SMOKE, ["experiment.initial_mixtures = 'leave_one_out'", "experiment.initial_trials = 4"])
    with pytest.raises(SpecError, match="initial_mixtures must be one of"):
        config.load(SMOKE, ["experiment.initial_mixtures = 'sobol'"])


def test_bo_engine_is_configured_by_the_experiment_gin_file():
    import gin

    from admire_jax.experiment import proposals

    exp = config.load(SMOKE, ["OptimizerConfig.acquisition = 'gibbon'", "OptimizerConfig.fidelity_map = 'rank'"])
    gin.clear_config()  # the settings travel in the loaded experiment, not in gin's state
    opt = proposals.build_optimizer(exp, [], num_recorded=5)
    assert opt.config == exp.optimizer
    assert opt.config.acquisition == "gibbon" and opt.config.fidelity_map == "rank"
    assert opt.config.raw_samples == 64  # from smoke.gin
    assert opt.seed == proposals.round_seed(exp.spec.seed, 5) and opt.target == "m"


def test_search_seeds_are_per_trial_only_when_asked_and_never_check_seeds():
    fixed = config.load(SMOKE, ["experiment.seed_per_trial = False"]).spec  # the demo sets True
    assert [fixed.search_seed(n) for n in range(3)] == [fixed.seed] * 3
    spec = config.load(SMOKE, ["experiment.seed_per_trial = True"]).spec
    seeds = [spec.search_seed(n) for n in range(50)]
    assert len(set(seeds)) == 50 and min(seeds) >= 1000  # the check trains with seeds 0, 1, ...
    assert seeds == [spec.search_seed(n) for n in range(50)]  # a function of (seed, n) only
    other = config.load(SMOKE, ["experiment.seed_per_trial = True", "experiment.seed = 1"]).spec
    assert other.search_seed(0) != spec.search_seed(0)
    # both options change what is proposed or recommended, so they are part of the experiment's identity
    assert spec.fingerprint() != fixed.fingerprint()
    anywhere = config.load(SMOKE, ["experiment.recommend_from = 'anywhere'"]).spec  # the demo's is 'target_trials'
    assert anywhere.fingerprint() != fixed.fingerprint()


def test_recommend_from_target_trials_picks_a_mixture_trained_at_the_target():
    from admire_jax.experiment import proposals
    from admire_jax.experiment.proposals import Observation

    exp = config.load(SMOKE, ["experiment.recommend_from = 'target_trials'"])
    domains = exp.spec.domains
    rng = np.random.default_rng(0)
    mixtures = [dict(zip(domains, w)) for w in rng.dirichlet(np.ones(len(domains)), size=6)]
    # loss falls towards python_code; the best mixture at the target rung is the one heaviest in it
    told = [
        Observation(m, rung, 3.0 - m["python_code"] + (0.2 if rung == "xs" else 0.0), 1e9)
        for m, rung in zip(mixtures, ["xs", "xs", "xs", "m", "m", "m"])
    ]
    _, rec = proposals.recommend(exp, told, [])
    at_target = [proposals.as_vector(m, domains) for m in mixtures[3:]]
    best = max(at_target, key=lambda w: w[0])
    assert np.allclose(rec.mixture, best)
    anywhere = config.load(SMOKE, ["experiment.recommend_from = 'anywhere'"])
    _, free = proposals.recommend(anywhere, told, [])
    assert not any(np.allclose(free.mixture, w) for w in at_target)  # the default extrapolates


def test_bad_recommend_from_is_a_spec_error():
    with pytest.raises(SpecError, match="recommend_from must be one of"):
        config.load(SMOKE, ["experiment.recommend_from = 'best'"])
