"""Autoregressive (Kennedy-O'Hagan AR1) multi-fidelity kernel over discrete rungs.

Chain (`structure='chain'`, the classic model): f_0 = delta_0, f_t = rho_{t-1} f_{t-1} + delta_t
with independent GPs delta_t ~ GP(0, k_t). Star (`structure='star'`): every rung above the
cheapest is regressed on the cheapest one, f_t = rho_{t-1} f_0 + delta_t. Either is written as
one kernel on (w, rung) pairs, i.e. the full joint covariance, so rungs need not share mixtures:
Cov(f_i(w), f_j(w')) = sum_l A[i, l] A[j, l] k_l(w, w'), with the propagation matrix A (chain:
A[i, l] = rho_l * ... * rho_{i-1} for l <= i; star: A[t, 0] = rho_{t-1}, A[t, t] = 1).

Why a star: in the chain the target inherits every mid rung's own discrepancy (times rho), so a
few mid-rung runs, bought near the optimum, move the target's ranking of the best mixtures with
whatever is peculiar to the mid rung. In the star a mid rung informs the target only through the
signal it shares with the cheapest rung; what is peculiar to it stays in its own delta.

rho is constrained positive, with a LogNormal prior of median 1 (see `params.rho_prior`). Why:
before any row of rung t+1 is seen, rho_t gets no gradient from the data, and with a free sign a
random restart or a poorly identified fit can land on rho_t < 0, which turns the cheap rungs'
ranking upside down at the target. "A bigger model ranks mixtures like a smaller one" is the
premise of using cheap rungs at all, so a negative factor is excluded a priori.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from admire_jax.bo.fidelity import split
from admire_jax.bo.kernels import Kernel
from admire_jax.bo.params import POSITIVE, child, module, param, rho_prior


def propagation_matrix(rho: jax.Array, structure: str = "chain") -> jax.Array:
    """A [R, R]: chain A[i, l] = prod(rho[l:i]) for l <= i, else 0; star A[t, 0] = rho[t - 1], A[t, t] = 1."""
    if structure not in ("chain", "star"):
        raise ValueError(f"unknown AR1 structure {structure!r}; use 'chain' or 'star'")
    num_rungs = rho.shape[0] + 1
    if structure == "star":
        return jnp.eye(num_rungs, dtype=rho.dtype).at[1:, 0].set(rho)
    rows = []
    for i in range(num_rungs):
        row = [jnp.prod(rho[l:i]) if l <= i else jnp.zeros((), rho.dtype) for l in range(num_rungs)]
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


@module
class AR1(Kernel):
    """Kennedy-O'Hagan kernel; `kernels[t]` is the (scaled) kernel of the discrepancy delta_t,
    `structure` 'chain' or 'star' (see the module docstring). `priors` may override the prior of
    rho, e.g. (("rho", Prior("LogNormal", (0.0, 0.3))),)."""

    kernels: tuple = child()
    rho: jax.Array = param(POSITIVE, rho_prior)
    num_domains: int = 0
    structure: str = "chain"
    priors: tuple = ()

    def evaluate(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        w1, _, r1 = split(x1, self.num_domains)
        w2, _, r2 = split(x2, self.num_domains)
        A = propagation_matrix(self.rho, self.structure)
        a1 = A[r1.astype(jnp.int32)]
        a2 = A[r2.astype(jnp.int32)]
        k = jnp.stack([kern.evaluate(w1, w2) for kern in self.kernels])
        return jnp.sum(a1 * a2 * k)
