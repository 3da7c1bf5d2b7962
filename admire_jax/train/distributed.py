"""Multi-host start-up: one `jax.distributed.initialize` per process, before any other jax call."""

from __future__ import annotations

import os

import gin
import jax


def cluster_detected() -> bool:
    """True on a multi-host TPU slice or inside a multi-task SLURM job (jax then finds its peers)."""
    slurm_tasks = int(os.environ.get("SLURM_NTASKS", os.environ.get("SLURM_NPROCS", "1")) or 1)
    if "SLURM_JOB_ID" in os.environ and slurm_tasks > 1:
        return True
    tpu_hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return "," in tpu_hosts or "MEGASCALE_COORDINATOR_ADDRESS" in os.environ


@gin.configurable
def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: list[int] | None = None,
    auto_detect: bool = True,
) -> bool:
    """Join the job's processes; returns whether jax.distributed was initialised.

    With `coordinator_address` all of address, process count and id come from the caller;
    without it jax auto-detects TPU pods and SLURM (when `auto_detect`); otherwise the run
    stays single-process.
    """
    if coordinator_address is not None:
        if num_processes is None or process_id is None:
            raise ValueError("coordinator_address needs num_processes and process_id as well")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"process_id {process_id} outside [0, {num_processes})")
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
            local_device_ids=local_device_ids,
        )
        return True
    if auto_detect and cluster_detected():
        jax.distributed.initialize()
        return True
    return False
