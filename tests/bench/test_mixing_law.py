"""The mixing-law baseline: its fit recovers its own functional form and it finds a table's optimum."""

import numpy as np

from admire_jax.bench.episode import run_episode
from admire_jax.bench.generate import GeneratorSpec, write_table
from admire_jax.bench.metrics import cost_to_best
from admire_jax.bench.mixing_law import fit_law, make_mixing_law, random_law
from admire_jax.bench.table import TableSpec, load_tasks


def test_the_fit_predicts_a_law_of_its_own_form_on_unseen_mixtures():
    rng = np.random.default_rng(0)
    for domains, rows in ((6, 80), (12, 200)):
        law = random_law(domains, 0.1, 2.0, rng)
        mixtures = rng.dirichlet(np.full(domains, 0.5), size=rows + 100)
        fitted = fit_law(mixtures[:rows], law(mixtures[:rows]))
        assert np.corrcoef(fitted(mixtures[rows:]), law(mixtures[rows:]))[0, 1] > 0.99


def test_the_fit_is_well_posed_with_fewer_rows_than_coefficients():
    rng = np.random.default_rng(1)
    mixtures = rng.dirichlet(np.ones(19), size=30)  # 190 coefficients
    prediction = fit_law(mixtures, rng.normal(size=30))(mixtures)
    assert np.all(np.isfinite(prediction))


def _task(tmp_path, maximize):
    spec = GeneratorSpec(
        domains=6, cost_ratio=(1.0, 6.0), rows=(200, 60), spearman=1.0, noise=0.0, maximize=maximize, seed=5
    )
    path = str(tmp_path / "t.csv")
    write_table(path, spec)
    c = spec.columns
    (task,) = load_tasks(
        path,
        TableSpec(
            c.weights_prefix,
            c.fidelity_col,
            (c.objective,),
            c.target_fidelity,
            c.maximize,
            c.cost_col,
            truth_cols=(c.truth_col,),
        ),
    )
    return task


def test_the_baseline_holds_the_best_target_row_of_a_table_made_from_its_own_form(tmp_path):
    for maximize in (True, False):
        task = _task(tmp_path, maximize)
        budget = float(task.cost_R[task.target_rows].sum())
        for seed in range(3):
            trace = run_episode(task, make_mixing_law, seed, budget)
            assert set(task.fidelity_of_R[trace.picked_S]) == {0}  # cheapest rung only
            assert trace.regret_K[-1] == 0.0
            result = cost_to_best(trace, "held", budget)
            assert not result.censored and result.cost < 0.5 * budget
