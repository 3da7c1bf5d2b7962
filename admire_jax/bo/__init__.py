"""admire_jax.bo: multi-fidelity, cost-aware Bayesian optimisation of data mixtures (JAX, float64)."""

from admire_jax.bo.config import MapFitConfig, ModelConfig, NutsFitConfig, OptimizerConfig
from admire_jax.bo.optimizer import Optimizer
from admire_jax.bo.records import Pool, Proposal, Recommendation

__all__ = [
    "MapFitConfig",
    "ModelConfig",
    "NutsFitConfig",
    "Optimizer",
    "OptimizerConfig",
    "Pool",
    "Proposal",
    "Recommendation",
]
