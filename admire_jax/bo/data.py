"""The GP's training data as one padded record, and the one padding function.

Model inputs are rows [w_1..w_D, s, r]: a mixture, its rung's fidelity coordinate s and the rung
index r (see `fidelity.split`). Arrays are padded to size buckets (`records.bucket`) so that a
long run reuses a handful of compiled programs; a mask marks the real rows.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from admire_jax.bo.records import bucket


def pad(array: np.ndarray, size: int | None = None) -> np.ndarray:
    """`array` with zero rows appended along its first axis up to `size` (default: its bucket)."""
    array = np.asarray(array)
    size = bucket(len(array)) if size is None else size
    out = np.zeros((size, *array.shape[1:]), array.dtype)
    out[: len(array)] = array
    return out


def mixtures_of(inputs: jax.Array) -> jax.Array:
    """The mixtures [N, D] of rows [w, s, r] [N, D + 2]."""
    return inputs[:, : inputs.shape[1] - 2]


def fidelity_of(inputs: jax.Array) -> jax.Array:
    """The fidelity coordinates [N] of rows [w, s, r]."""
    return inputs[:, inputs.shape[1] - 2]


def rung_of(inputs: jax.Array) -> jax.Array:
    """The rung indices [N] (as floats) of rows [w, s, r]."""
    return inputs[:, inputs.shape[1] - 1]


def model_inputs(mixtures: np.ndarray, fidelity: np.ndarray, rung: np.ndarray) -> np.ndarray:
    """Rows [w, s, r] from mixtures [N, D], fidelity coordinates [N] and rung indices [N]."""
    mixtures = np.asarray(mixtures, np.float64).reshape(len(fidelity), -1)
    return np.concatenate(
        [mixtures, np.asarray(fidelity, np.float64)[:, None], np.asarray(rung, np.float64)[:, None]], axis=1
    )


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What the GP is conditioned on, padded: `inputs` [N, D + 2] rows [w, s, r], standardised
    outcomes `y` [N], `mask` [N] (real rows) and `fantasy` [N] (pending points, whose outcome is
    believed to be the posterior mean; their `y` is 0)."""

    inputs: jax.Array
    y: jax.Array
    mask: jax.Array
    fantasy: jax.Array

    @classmethod
    def of(cls, inputs: jax.Array, y: jax.Array, mask: jax.Array | None = None) -> "TrainingData":
        """Rows as given, without fantasies; `mask` defaults to every row."""
        mask = np.ones(len(y), bool) if mask is None else mask
        return cls(inputs, y, mask, np.zeros(len(y), bool))

    @property
    def mixtures(self) -> jax.Array:
        return mixtures_of(self.inputs)

    @property
    def fidelity(self) -> jax.Array:
        return fidelity_of(self.inputs)

    @property
    def rung(self) -> jax.Array:
        return rung_of(self.inputs)

    @property
    def observed(self) -> jax.Array:
        """Real rows with a measured outcome (neither padding nor fantasy)."""
        return self.mask & ~self.fantasy


jax.tree_util.register_dataclass(TrainingData, data_fields=["inputs", "y", "mask", "fantasy"], meta_fields=[])


@dataclasses.dataclass(frozen=True)
class Candidates:
    """Padded candidate rows [w, s, r] (`inputs` [M, D + 2]) and which of them count (`valid` [M])."""

    inputs: jax.Array
    valid: jax.Array

    @classmethod
    def padded(cls, inputs: np.ndarray, size: int | None = None) -> "Candidates":
        """`inputs` padded to `size` (default: their bucket); the padding is not valid."""
        padded = pad(inputs, size)
        return cls(padded, np.arange(len(padded)) < len(inputs))


jax.tree_util.register_dataclass(Candidates, data_fields=["inputs", "valid"], meta_fields=[])


@dataclasses.dataclass(frozen=True)
class TargetRung:
    """The target rung's fidelity coordinate and index, where the objective is measured."""

    fidelity: jax.Array
    rung: jax.Array


jax.tree_util.register_dataclass(TargetRung, data_fields=["fidelity", "rung"], meta_fields=[])
