"""The report says which fidelity model the search used and what each cheap rung told it."""

import re

import numpy as np

from admire_jax.bo import Optimizer, OptimizerConfig
from admire_jax.experiment.report import fidelity_section


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


def test_an_auto_model_names_the_model_chosen():
    text = "\n".join(fidelity_section(_told({"tiny": 0.01, "target": 1.0}, model="auto")))
    chosen = re.search(r"Fidelity model: `(\w+)` \(.*, chosen by leave-one-out predictive density among", text)
    assert chosen and chosen.group(1) in ("ar1", "ar1_star", "linear_truncated"), text
