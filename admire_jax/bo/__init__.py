"""admire_jax.bo: multi-fidelity, cost-aware Bayesian optimisation of data mixtures (JAX, float64)."""
from admire_jax.bo.config import OptimizerConfig
from admire_jax.bo.optimizer import Optimizer, Pool, Proposal, Recommendation

__all__ = ["Optimizer", "OptimizerConfig", "Pool", "Proposal", "Recommendation"]
