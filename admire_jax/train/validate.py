"""`admire-jax validate`: compile the full train step of a large config from shapes alone.

  admire-jax validate --preset=7b --mesh=data=1,fsdp=8,tensor=1 [--topology=v5p-8] [--json]
                      [--per_device_batch=4] [--accum_steps=8] [--seq_len=2048]

No weights are allocated: the state and batch are ShapeDtypeStructs carrying their shardings.
Targets: a simulated CPU mesh (default, --devices of them), a TPU topology compiled by libtpu
(`pip install libtpu`; works without TPUs) or NVIDIA GPUs such as 8xh100 compiled by jax's CUDA
plugin (`pip install jax-cuda12-plugin`; works without GPUs, see gpu_targets.py). Prints
per-device memory (arguments, temporaries, peak), whether it fits the device, and the model
FLOPs per step counted from the config.
By default the step is the preset's global batch (GLOBAL_BATCH) split over the mesh's data x fsdp
replicas, with the smallest gradient-accumulation count at which it fits (figures at that count);
`--accum_steps` fixes the count, and `--per_device_batch` sets the batch, one micro-batch unless
`--accum_steps` says otherwise.
Exit codes: 0 fits, 1 does not fit (or failed), 2 bad input.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

from admire_jax import gin_cli
from admire_jax.gin_cli import UsageError
from admire_jax.train import flags, gpu_targets
from admire_jax.train.accumulation_search import accumulation_counts, smallest_fitting
from admire_jax.train.compiled_memory import GIB, compile_oom_message, memory_figures

# Accelerator names (as in `gcloud ... --accelerator-type`) -> libtpu topology, chip config.
# The number counts TensorCores; v4 and v5p chips have two, run as one megacore device.
TPU_TOPOLOGIES = {
    "v4-8": ("v4:2x2x1", "megacore"),
    "v4-16": ("v4:2x2x2", "megacore"),
    "v4-32": ("v4:2x2x4", "megacore"),
    "v5p-8": ("v5p:2x2x1", "megacore"),
    "v5p-16": ("v5p:2x2x2", "megacore"),
    "v5p-32": ("v5p:2x2x4", "megacore"),
    "v5e-1": ("v5e:1x1", "default"),
    "v5e-4": ("v5e:2x2", "default"),
    "v5e-8": ("v5e:2x4", "default"),
    "v5e-16": ("v5e:4x4", "default"),
    "v6e-1": ("v6e:1x1", "default"),
    "v6e-4": ("v6e:2x2", "default"),
    "v6e-8": ("v6e:2x4", "default"),
    "v6e-16": ("v6e:4x4", "default"),
}


class DoesNotFit(Exception):
    """The compiler ran out of device memory; the message says how much was needed."""


def target_devices(topology: str | None, num_devices: int):
    """(devices, target name): TPU topology devices from libtpu, NVIDIA GPUs described to jax's
    CUDA plugin, or this host's CPU devices."""
    import jax

    if topology is None:
        devices = jax.devices("cpu")
        if len(devices) < num_devices:
            raise UsageError(
                f"{num_devices} CPU devices needed but jax has {len(devices)}; "
                "jax was initialised before --devices could take effect"
            )
        return devices[:num_devices], f"cpu x{num_devices}"
    if gpu_targets.is_gpu_target(topology):
        try:
            return gpu_targets.gpu_topology_devices(topology), topology
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if topology not in TPU_TOPOLOGIES:
        raise UsageError(
            f"unknown --topology {topology!r}; known: {', '.join(TPU_TOPOLOGIES)}, "
            f"or NxGPU with GPU one of {', '.join(gpu_targets.GPU_SPECS)} (e.g. 8xh100)"
        )
    from jax.experimental import topologies

    # compile-only use of libtpu: do not take the one-process-per-host TPU lock
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    name, chip_config = TPU_TOPOLOGIES[topology]
    try:
        desc = topologies.get_topology_desc(name, "tpu", chip_config_name=chip_config)
    except Exception as exc:
        raise RuntimeError(f"cannot load TPU topology {topology} (is `libtpu` installed?): {exc}") from None
    return list(desc.devices), topology


def config_for_target(model_config, topology: str | None):
    """The model config as the target would run it. 'auto' attention would resolve against the
    running (CPU) backend, i.e. CPU query-blocked attention; an accelerator target runs XLA
    attention (on TPU; on GPU without cuDNN loaded, an upper bound on cuDNN flash attention's memory)."""
    if topology is not None and model_config.attention == "auto":
        return dataclasses.replace(model_config, attention="xla")
    return model_config


def _host_memory_per_device(num_devices: int) -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // num_devices


def validate(args, mesh_sizes: dict[str, int]) -> dict:
    """Compile and measure at the accumulation count asked for, else at the smallest that fits;
    the report as a dict (raises DoesNotFit on compile-time OOM at the count reported)."""
    from admire_jax.data import configured_tokenizer
    from admire_jax.model import sharding
    from admire_jax.train import flops, optimizer, state, step
    from admire_jax.train.transformer_spec import configured_model, transformer_spec

    devices, target = target_devices(args.topology, args.devices)
    try:
        mesh = sharding.make_mesh(**mesh_sizes, devices=devices)
        model_config = configured_model(configured_tokenizer().vocab_size)
        model_config = config_for_target(model_config, args.topology)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    seq_len = args.seq_len or int(gin_cli.bound("%SEQ_LEN"))
    replicas = mesh.shape["data"] * mesh.shape["fsdp"]
    global_batch = args.per_device_batch * replicas if args.per_device_batch else int(gin_cli.bound("%GLOBAL_BATCH"))
    counts = _accumulation_counts(args, global_batch, replicas)
    spec = transformer_spec(model_config, str(gin_cli.bound("%PRESET", args.preset or "custom")))
    schedule = optimizer.learning_rate_schedule(1000, learning_rate=1e-4)  # values do not affect memory
    tx = optimizer.adamw(schedule)
    abstract, shardings = state.state_shardings(spec, mesh, tx)
    available = flops.device_memory_bytes(devices[0]) or _host_memory_per_device(len(devices))
    if args.device_memory_gib:
        available = int(args.device_memory_gib * GIB)

    def measure(accum_steps: int) -> dict:
        try:
            compiled = step.compile_train_step(
                spec, mesh, tx, schedule, abstract, shardings, global_batch, seq_len, accum_steps
            )
        except Exception as exc:
            message = compile_oom_message(str(exc), available)
            if message is None:
                raise
            return {"fits": False, "compile_oom": message}
        return memory_figures(compiled.memory_analysis(), available)

    accum_steps, figures = smallest_fitting(counts, measure, lambda m: m["fits"])
    if "compile_oom" in figures:
        raise DoesNotFit(figures["compile_oom"] + _at_count(accum_steps, global_batch // replicas, len(counts) > 1))
    return {
        "params": int(model_config.total_params()),
        "non_embedding_params": int(spec.non_embedding_params),
        "flops_per_step": float(spec.flops_per_step(seq_len, global_batch)),
        "target": target,
        "mesh": dict(mesh.shape),
        "global_batch": global_batch,
        "seq_len": seq_len,
        "per_device_batch": global_batch // replicas,
        "accum_steps": accum_steps,
        "accum_searched": len(counts) > 1,
        **figures,
    }


def _accumulation_counts(args, global_batch: int, replicas: int) -> list[int]:
    """The counts to try: the one of --accum_steps, 1 for --per_device_batch, else every count the
    batch splits into (the search's candidates)."""
    if global_batch % replicas:
        raise UsageError(f"global batch {global_batch} does not split over {replicas} data x fsdp replicas")
    if args.accum_steps is not None:
        if args.accum_steps < 1 or global_batch % (replicas * args.accum_steps):
            raise UsageError(
                f"--accum_steps={args.accum_steps} does not split {global_batch // replicas} sequences per "
                f"replica into equal micro-batches"
            )
        return [args.accum_steps]
    return [1] if args.per_device_batch else accumulation_counts(global_batch, replicas)


def _at_count(accum_steps: int, per_device: int, searched: bool) -> str:
    """' even with accum_steps=N (micro-batches of M per device)' after a search found no count
    that fits, else ''."""
    if not searched:
        return ""
    return f" even with accum_steps={accum_steps} (micro-batches of {per_device // accum_steps} per device)"


def _print_report(r: dict) -> None:
    g = lambda b: f"{b / GIB:8.2f} GiB"
    micro = r["per_device_batch"] // r["accum_steps"]
    print(
        f"target {r['target']}  mesh {r['mesh']}  batch {r['global_batch']} x {r['seq_len']} "
        f"({r['per_device_batch']} per device; accum_steps {r['accum_steps']}: micro-batches of {micro})"
    )
    print(f"params {r['params']:,} ({r['non_embedding_params']:,} non-embedding)")
    print(
        f"per device: arguments {g(r['argument_bytes_per_device'])}  temporaries {g(r['temp_bytes_per_device'])}  "
        f"peak {g(r['peak_bytes_per_device'])}  of {g(r['device_memory_bytes'])}"
    )
    print(f"model FLOPs per step {r['flops_per_step']:.4g}")
    if not r["fits"]:
        needs = f"needs {r['peak_bytes_per_device'] / GIB:.2f} GiB of {r['device_memory_bytes'] / GIB:.2f} GiB"
        print(f"does not fit: {needs}{_at_count(r['accum_steps'], r['per_device_batch'], r['accum_searched'])}")
    elif r["accum_searched"] and r["accum_steps"] > 1:
        print(
            f"fits with accum_steps={r['accum_steps']}, the smallest count that fits "
            f"(train with --gin.TrainConfig.accum_steps={r['accum_steps']})"
        )
    else:
        print("fits")


@gin_cli.clears_gin
def main(argv: list[str]) -> int:
    p = gin_cli.parser("admire-jax validate", "Compile a config's train step ahead of time; report memory and FLOPs.")
    flags.add_model_arguments(p)
    p.add_argument(
        "--topology",
        help=f"TPU target (needs libtpu): {', '.join(TPU_TOPOLOGIES)}; or NVIDIA "
        f"GPUs (needs jax-cuda12-plugin): e.g. 8xh100, 16xa100",
    )
    p.add_argument("--devices", type=int, default=8, help="simulated CPU devices (CPU target)")
    p.add_argument(
        "--per_device_batch", type=int, help="sequences per data/fsdp replica (default: GLOBAL_BATCH split over them)"
    )
    p.add_argument("--seq_len", type=int, help="default: SEQ_LEN of the preset")
    p.add_argument(
        "--accum_steps",
        type=int,
        help="micro-batches per step (default: the smallest count that fits; 1 with --per_device_batch)",
    )
    p.add_argument("--device_memory_gib", type=float, help="override the target's device memory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args, bindings = gin_cli.parse_args(p, argv)
        if args.topology is None:
            _request_cpu_devices(args.devices)
        gin_cli.parse_gin(flags.gin_files(args), bindings, gin_cli.search_paths(args))
        report = validate(args, flags.parse_mesh(args.mesh))
    except UsageError as exc:
        print(f"admire-jax validate: {exc}", file=sys.stderr)
        return 2
    except DoesNotFit as exc:
        print(f"admire-jax validate: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"admire-jax validate: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        keys = (
            "params",
            "peak_bytes_per_device",
            "device_memory_bytes",
            "fits",
            "flops_per_step",
            "target",
            "global_batch",
            "per_device_batch",
            "accum_steps",
        )
        print(json.dumps({k: report[k] for k in keys}))
    else:
        _print_report(report)
    return 0 if report["fits"] else 1


def _request_cpu_devices(count: int) -> None:
    """Ask XLA for `count` host devices; effective only if jax's CPU backend is not yet started."""
    if count < 1:
        raise UsageError(f"--devices must be >= 1, got {count}")
    current = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in current:
        os.environ["XLA_FLAGS"] = f"{current} --xla_force_host_platform_device_count={count}".strip()
