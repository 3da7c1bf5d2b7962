"""Orbax checkpointing of the train state: asynchronous saves, keep-last-n, resume from latest."""

from __future__ import annotations

import os

import orbax.checkpoint as ocp

from admire_jax.train.state import TrainState


class Checkpointer:
    """Saves the whole train state every `every` steps under `directory`, keeping the last `keep`.

    Saves are asynchronous: training continues while the arrays are written. Restoring needs the
    abstract state (shapes, dtypes, shardings), so a checkpoint is read straight onto its devices.
    """

    def __init__(self, directory: str, every: int, keep: int = 2, async_save: bool = True):
        if every < 1 or keep < 1:
            raise ValueError(f"checkpoint every={every} and keep={keep} must both be >= 1")
        self.every = every
        self._manager = ocp.CheckpointManager(
            os.path.abspath(directory),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def save(self, step: int, state: TrainState) -> None:
        """Start writing `state` as checkpoint `step` (returns before the write finishes)."""
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, abstract_state: TrainState, step: int | None = None) -> TrainState:
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError("no checkpoint to restore")
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

    def close(self) -> None:
        """Wait for pending writes and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()
