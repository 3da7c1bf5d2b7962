"""Orbax checkpointing of the train state: asynchronous saves, keep-last-n, resume from latest."""

from __future__ import annotations

import orbax.checkpoint as ocp

from admire_jax.train import run_files
from admire_jax.train.state import TrainState


class Checkpointer:
    """Saves the whole train state every `every` steps and at the last one under `directory`,
    keeping the last `keep`; `every=None` switches checkpoints off (nothing is read or written).

    Saves are asynchronous: training continues while the arrays are written. Restoring needs the
    abstract state (shapes, dtypes, shardings), so a checkpoint is read straight onto its devices.
    """

    def __init__(self, directory: str, every: int | None, keep: int = 2, async_save: bool = True):
        if (every is not None and every < 1) or keep < 1:
            raise ValueError(f"checkpoint every={every} and keep={keep} must both be >= 1")
        self.every = every
        self._manager = None
        if every is not None:
            self._manager = ocp.CheckpointManager(
                run_files.run_path(directory),
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=keep, enable_async_checkpointing=async_save, create=True
                ),
            )

    def latest_step(self) -> int | None:
        return None if self._manager is None else self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return [] if self._manager is None else sorted(self._manager.all_steps())

    def due(self, step: int, total_steps: int) -> bool:
        """Whether `step` is one to save: every `every` steps, and the run's last."""
        return self.every is not None and (step % self.every == 0 or step == total_steps)

    def save(self, step: int, state: TrainState) -> None:
        """Start writing `state` as checkpoint `step` (returns before the write finishes)."""
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def save_now(self, step: int, state: TrainState) -> bool:
        """Checkpoint `step` written to disk before returning (a preempted run's last act), unless
        checkpoints are off; returns whether there is one to resume from."""
        if self._manager is None:
            return False
        if self.latest_step() != step:
            self.save(step, state)
        self._manager.wait_until_finished()
        return True

    def restore(self, abstract_state: TrainState, step: int | None = None) -> TrainState:
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError("no checkpoint to restore")
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

    def close(self) -> None:
        """Wait for pending writes and release the manager."""
        if self._manager is not None:
            self._manager.wait_until_finished()
            self._manager.close()
