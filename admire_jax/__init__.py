"""admire-jax: multi-fidelity, cost-aware Bayesian optimisation of language-model data mixtures.

Layers (imports only go downwards; `bo` and the trainer never import each other):
  experiment  joins bo + data + train into `admire-jax optimize`
  bench       replays tables of finished runs through bo
  bo          Gaussian processes, acquisitions, the ask/tell Optimizer
  data        text domains, tokenisation, weighted interleaving
  model/train the sharded Flax trainer
"""

__version__ = "0.1.0"
