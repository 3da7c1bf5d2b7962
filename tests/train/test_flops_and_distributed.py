"""Peak-FLOPs table and MFU arithmetic; multi-host start-up decisions (without starting jax.distributed)."""

from __future__ import annotations

import pytest

from admire_jax.train import distributed, flops


@pytest.mark.parametrize(
    "kind, peak",
    [
        ("TPU v4", 275e12),
        ("TPU v5", 459e12),
        ("TPU v5 lite", 197e12),
        ("TPU v6 lite", 918e12),
        ("NVIDIA H100 80GB HBM3", 989e12),
    ],
)
def test_peak_flops_by_device_kind(kind, peak):
    assert flops.peak_flops_per_device(kind) == peak


def test_unknown_device_has_no_peak_and_mfu_is_none():
    assert flops.peak_flops_per_device("cpu") is None
    assert flops.mfu(1e12, 8, None) is None
    assert flops.mfu(0.5 * 8 * 459e12, 8, 459e12) == pytest.approx(0.5)


def test_tpu_memory_table():
    assert flops.device_memory_bytes("TPU v5") == 95 << 30
    assert flops.device_memory_bytes("TPU v4") == 32 << 30


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, False),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, False),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, True),
        ({"TPU_WORKER_HOSTNAMES": "10.0.0.1,10.0.0.2"}, True),
        ({"TPU_WORKER_HOSTNAMES": "10.0.0.1"}, False),
    ],
)
def test_cluster_detection(monkeypatch, env, expected):
    for name in (
        "SLURM_JOB_ID",
        "SLURM_NTASKS",
        "SLURM_NPROCS",
        "TPU_WORKER_HOSTNAMES",
        "MEGASCALE_COORDINATOR_ADDRESS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed.cluster_detected() is expected


def test_single_process_needs_no_initialisation(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("TPU_WORKER_HOSTNAMES", raising=False)
    monkeypatch.delenv("MEGASCALE_COORDINATOR_ADDRESS", raising=False)
    assert distributed.initialize_distributed() is False


def test_explicit_coordinator_needs_count_and_id():
    with pytest.raises(ValueError, match="num_processes and process_id"):
        distributed.initialize_distributed("localhost:1234", num_processes=2)
    with pytest.raises(ValueError, match="outside"):
        distributed.initialize_distributed("localhost:1234", num_processes=2, process_id=2)
