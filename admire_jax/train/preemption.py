"""Preemption: SIGTERM asks the run to stop at the next step boundary, which every process agrees on.

A spot TPU VM or a Slurm job gets SIGTERM some seconds before it is taken away. The signal handler
only sets a flag; at each step boundary the processes agree (one tiny all-gather) whether any of
them was signalled, or whether jax's preemption service (`jax.distributed`, on by default) has
reached its sync point, so all of them stop after the same step, save that step's checkpoint and
exit with `admire_jax.train.PREEMPTED_EXIT_CODE`. Running the same command again resumes from that checkpoint.
"""

from __future__ import annotations

import signal

import jax
import numpy as np
from jax.experimental import multihost_utils


class PreemptionNotice:
    """Whether this run was asked to stop (SIGTERM), and whether all its processes agree to stop now."""

    def __init__(self) -> None:
        self._requested = False
        self._sync_service = True  # jax's preemption service, until it says it is off

    def install(self) -> None:
        """Make SIGTERM set the flag. Call again after `jax.distributed.initialize`, whose preemption
        notifier takes SIGTERM over (it would otherwise swallow the signal that this run must see)."""
        signal.signal(signal.SIGTERM, self._on_signal)

    def request(self) -> None:
        """Ask the run to stop at its next step boundary (what SIGTERM does)."""
        self._requested = True

    def _on_signal(self, signum, frame) -> None:
        self.request()

    def agreed(self, step: int) -> bool:
        """True on every process, at the same `step`, once any process was asked to stop.

        Every process must call this at every step boundary, with the same steps.
        """
        stop = self._requested
        if jax.process_count() > 1:
            stop = bool(multihost_utils.process_allgather(np.int32(stop)).max())
        return self._reached_sync_point(step) or stop

    def _reached_sync_point(self, step: int) -> bool:
        """jax's own preemption notice (the same step on every host), where its service runs."""
        if not self._sync_service:
            return False
        try:
            return multihost_utils.reached_preemption_sync_point(step)
        except RuntimeError:  # the service is switched off (jax_enable_preemption_service)
            self._sync_service = False
            return False


def stop_message(step: int, resumable: bool) -> str:
    """What result.json says about a preempted run."""
    if resumable:
        return f"preempted after step {step}; checkpoint {step} saved: run the same command to resume"
    return (
        f"preempted after step {step}; checkpoints are off (TrainConfig.checkpoint_every = 0), "
        "so there is nothing to resume from: running the same command starts again at step 0"
    )
