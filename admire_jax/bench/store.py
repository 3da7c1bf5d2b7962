"""Finished episodes on disk, so that an interrupted or extended replay only runs what is missing.

Each episode is one `.npz` under `OUT/episodes/`, keyed by everything that determines it: the
task's data (a hash of its arrays), the method, the seed, the budget, `n_init`, the step cap and the
content of the BO methods' config (for the methods that use the engine). A file whose key does not
match is ignored and overwritten. The code itself is not part of the key: after changing a method,
replay into a fresh directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import numpy as np

from admire_jax.bench.episode import Trace
from admire_jax.bench.table import ReplayTask

_ARRAYS = ("cum_cost_K", "regret_K", "recommended_K", "verified_K", "runs_K", "picked_S")


def task_fingerprint(task: ReplayTask) -> str:
    """A hash of everything in the task that an episode can see or is scored on."""
    digest = hashlib.sha256()
    for array in (task.mixtures_RxD, task.fidelity_of_R, task.cost_R, task.value_R):
        digest.update(np.ascontiguousarray(array).tobytes())
    if task.truth_R is not None:
        digest.update(np.ascontiguousarray(task.truth_R).tobytes())
    digest.update(
        json.dumps(
            [task.objective, task.maximize, task.rungs, task.target, task.declared_costs, task.median_costs]
        ).encode()
    )
    return digest.hexdigest()


class EpisodeStore:
    """Episodes of one replay output directory. `settings` is whatever else fixes an episode;
    `engine_config` (the BO config's content, as text) is part of the key of the `engine_methods` only."""

    def __init__(self, directory: str, settings: dict, engine_config: str = "", engine_methods: tuple[str, ...] = ()):
        self.directory = directory
        self.settings = json.dumps(settings, sort_keys=True)
        self.engine_config = engine_config
        self.engine_methods = engine_methods
        self._fingerprints: dict[int, tuple[ReplayTask, str]] = {}  # id -> (task kept alive, hash)

    def _fingerprint(self, task: ReplayTask) -> str:
        """`task_fingerprint`, computed once per task (hashing a large table for every episode
        loaded or saved was needless work)."""
        cached = self._fingerprints.get(id(task))
        if cached is None or cached[0] is not task:
            cached = self._fingerprints[id(task)] = (task, task_fingerprint(task))
        return cached[1]

    def _path(self, task: ReplayTask, method: str, seed: int) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{task.objective}__{method}__seed{seed}")
        return os.path.join(self.directory, name + ".npz")

    def _key(self, task: ReplayTask, method: str, seed: int, cap: int | None) -> str:
        engine = self.engine_config if method in self.engine_methods else ""
        return json.dumps([self._fingerprint(task), method, seed, cap, self.settings, engine])

    def load(self, task: ReplayTask, method: str, seed: int, cap: int | None) -> Trace | None:
        """The stored episode, or None if there is none for exactly these settings."""
        path = self._path(task, method, seed)
        if not os.path.exists(path):
            return None
        with np.load(path) as data:
            if str(data["key"]) != self._key(task, method, seed, cap):
                return None
            return Trace(**{name: data[name] for name in _ARRAYS}, stop_reason=str(data["stop_reason"]))

    def save(self, task: ReplayTask, method: str, seed: int, cap: int | None, trace: Trace) -> None:
        os.makedirs(self.directory, exist_ok=True)
        path = self._path(task, method, seed)
        partial = path + ".part.npz"
        np.savez(
            partial,
            key=self._key(task, method, seed, cap),
            stop_reason=trace.stop_reason,
            **{name: getattr(trace, name) for name in _ARRAYS},
        )
        os.replace(partial, path)  # a killed replay never leaves a half-written episode
