"""`admire-jax train`: train one preset on one mixture; the run directory ends with result.json.

  admire-jax train --preset=10m [--gin_file=...] [--gin.TrainConfig.steps=100]
                   [--gin_search_paths=DIR] [--mixture=recommendation.json] [--run_dir=runs/10m]
                   [--mesh=data=-1]

Exit codes: 0 ok, 1 diverged or failed (see result.json), 2 bad command-line input,
75 (`PREEMPTED_EXIT_CODE`, EX_TEMPFAIL) preempted: SIGTERM stopped the run at a step boundary,
after a checkpoint of that step (result.json: status "preempted", "step", "resumable").
Re-running with the same run directory resumes from its latest checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
import time

import gin

from admire_jax import gin_cli, gin_unread
from admire_jax.gin_cli import UsageError
from admire_jax.train import PREEMPTED_EXIT_CODE, flags, run_files
from admire_jax.train.result import has_result, make_result, write_result


def _read_mixture(path: str | None) -> dict[str, float] | None:
    """{domain: w}, or a recommendation/result JSON holding one under "mixture"."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read --mixture {path}: {exc}") from None
    data = data.get("mixture", data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise UsageError(f"--mixture {path} must hold {{domain: weight}} (or {{'mixture': {{...}}}})")
    return {str(k): float(v) for k, v in data.items()}


def _failed(run_dir: str, preset: str, mixture, error: str, started: float, keep_existing: bool = False) -> None:
    """Records a run that could not train; with `keep_existing` (bad input, exit 2) a result the run
    folder already holds is kept, so a refused command loses nothing stored."""
    if keep_existing and has_result(run_dir):
        return
    write_result(
        run_dir,
        make_result(
            mixture=mixture or {},
            preset=preset,
            params=0,
            tokens=0,
            steps=0,
            wall_seconds=time.time() - started,
            flops=0.0,
            val_loss={},
            status="failed",
            error=error,
        ),
    )


@gin_cli.clears_gin
def main(argv: list[str]) -> int:
    started = time.time()
    p = gin_cli.parser("admire-jax train", "Train one model on one data mixture (gin-configured).")
    flags.add_model_arguments(p)
    p.add_argument("--mixture", help="JSON file with {domain: weight}; default uniform")
    p.add_argument("--run_dir", help="output and checkpoint directory (default runs/<preset>)")
    p.add_argument("--coordinator_address", help="multi-host: host:port of process 0")
    p.add_argument("--num_processes", type=int, help="multi-host: number of processes")
    p.add_argument("--process_id", type=int, help="multi-host: this process's index")
    run_dir, preset, mixture = None, "unknown", None
    try:
        args, bindings = gin_cli.parse_args(p, argv)
        files = gin_cli.parse_gin(flags.gin_files(args), bindings, gin_cli.search_paths(args))
        preset = str(gin_cli.bound("%PRESET", args.preset or "custom"))
        run_dir = args.run_dir or os.path.join("runs", preset)
        mixture = _read_mixture(args.mixture)
        mesh_sizes = flags.parse_mesh(args.mesh)
    except UsageError as exc:
        print(f"admire-jax train: {exc}", file=sys.stderr)
        if run_dir is not None:
            _failed(run_dir, preset, mixture, f"usage: {exc}", started, keep_existing=True)
        return 2
    from admire_jax.data.builtin_check import CorpusMismatchError, check_run_dir

    try:
        check_run_dir(run_dir)  # a run resumed on another built-in corpus: refused, its result.json kept
        record = _run(args, preset, run_dir, mixture, mesh_sizes)
    except CorpusMismatchError as exc:
        print(f"admire-jax train: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"admire-jax train: {exc}", file=sys.stderr)
        _failed(run_dir, preset, mixture, f"usage: {exc}", started, keep_existing=True)
        return 2
    except Exception as exc:  # set-up failures (data, mesh, devices) still leave a result.json
        print(f"admire-jax train: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        _failed(run_dir, preset, mixture, f"{type(exc).__name__}: {exc}", started)
        return 1
    gin_unread.warn_unread("admire-jax train", gin_unread.user_parameters(files, bindings, gin_cli.CONFIG_ROOT))
    print(json.dumps({k: record[k] for k in ("status", "steps", "val_loss", "error")}))
    return {"ok": 0, "preempted": PREEMPTED_EXIT_CODE}.get(record["status"], 1)


def _run(args, preset: str, run_dir: str, mixture, mesh_sizes) -> dict:
    from admire_jax.model import sharding
    from admire_jax.train.compilation_cache import enable_compilation_cache
    from admire_jax.train.data_setup import proxy_data
    from admire_jax.train.distributed import initialize_distributed
    from admire_jax.train.preemption import PreemptionNotice
    from admire_jax.train.trainer import TrainConfig, train
    from admire_jax.train.transformer_spec import trained_model, transformer_spec

    notice = PreemptionNotice()
    notice.install()  # SIGTERM from here on stops the run at a step boundary, with a checkpoint
    initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    notice.install()  # again: jax.distributed's own preemption notifier replaced the handler
    enable_compilation_cache()
    try:
        config = TrainConfig()
        data_factory, evaluations = train_options()
        data = (data_factory or proxy_data)(
            mixture,
            config.seq_len,
            config.global_batch,
            config.seed,
            process_index=jax_process_index(),
            process_count=jax_process_count(),
        )
        model_config = trained_model(config.init_checkpoint, data.tokenizer.vocab_size)
    except (ValueError, TypeError) as exc:  # gin REQUIRED unbound, bad values, unknown domains
        raise UsageError(str(exc)) from None
    mesh = sharding.make_mesh(**mesh_sizes)
    spec = transformer_spec(model_config, preset, init_checkpoint=config.init_checkpoint)
    if jax_process_index() == 0:
        folder = run_files.run_path(run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.gin").write_text(gin.config_str())
    return train(
        spec,
        mesh,
        config,
        data.loader,
        data.validation,
        run_dir,
        data.mixture,
        evaluations=evaluations,
        tokenizer=data.tokenizer,
        preemption_notice=notice,
        fingerprints=getattr(data, "fingerprints", None),
    )


@gin.configurable("train")
def train_options(data_factory=None, evaluations=None):
    """What `admire-jax train` plugs in: the data (default `proxy_data`, the configured domains; any
    fn(mixture, seq_len, global_batch, seed, process_index=, process_count=) returning an object
    with tokenizer / loader / validation / mixture) and final scores ({name: fn(model, tokenizer)})."""
    return data_factory, dict(evaluations or {})


def jax_process_index() -> int:
    import jax

    return jax.process_index()


def jax_process_count() -> int:
    import jax

    return jax.process_count()
