"""Replay determinism: the same seed and the same tells give bit-identical proposals and fitted
hyperparameters in two separate processes (different hash seeds and XLA thread settings)."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import jax
import numpy as np
from admire_jax.bo import Optimizer, OptimizerConfig, Pool
opt = Optimizer(
    ["a", "b", "c", "d"],
    {"small": 0.01, "mid": 0.1, "big": 1.0},
    target="big",
    seed=3,
    config=OptimizerConfig(refit_every=2, full_refit_every=2),
)
rng = np.random.default_rng(0)
W = rng.dirichlet(np.ones(4), 30)
labels = [["small", "mid", "big"][i % 3] for i in range(30)]
score = lambda w, l: float(np.sum((w - [0.4, 0.3, 0.2, 0.1]) ** 2) + {"small": 0.1, "mid": 0.05, "big": 0.0}[l])
for i in range(6):
    opt.tell(W[i], labels[i], score(W[i], labels[i]))
left = list(range(6, 30))
for step in range(4):  # reuse, warm refit and full refit steps
    p = opt.ask(pool=Pool(W[left], [labels[i] for i in left]))[0]
    row = left.pop(p.index)
    opt.tell(W[row], labels[row], score(W[row], labels[row]))
    print(step, row, p.fidelity, repr(p.acquisition))
print([leaf.tolist() for leaf in jax.tree_util.tree_leaves(opt.hyperparameters())])
print(repr(opt.recommend(W).mean))
"""


def _run(env_overrides):
    env = dict(os.environ, **env_overrides)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_two_processes_give_bit_identical_bo_episodes():
    xla = os.environ.get("XLA_FLAGS", "")
    runs = [
        _run({"PYTHONHASHSEED": "1"}),
        _run(
            {
                "PYTHONHASHSEED": "2",
                "OPENBLAS_NUM_THREADS": "1",
                "XLA_FLAGS": xla + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            }
        ),
    ]
    outputs = []
    for proc in runs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(out)
    assert len(outputs[0].splitlines()) == 6
    assert outputs[0] == outputs[1]
