"""Accelerator check: the first script to run on a lent GPU or TPU (and a quick one on a CPU).

For each preset that fits one device it measures the real jitted train step on that device:
tokens/s and MFU against a matmul timed in the same run and the same dtype (bf16 on accelerators;
on CPU float32, as the trainer trains there), also against the datasheet peak where the device kind
is known; each attention kernel the device offers (XLA everywhere, cuDNN flash attention on NVIDIA
GPUs, the query-blocked XLA path that 'auto' picks on CPU); and the peak device memory
(`device.memory_stats()`, reported by GPUs and TPUs; on a CPU the worker's peak resident memory,
runtime included, stands in) against `admire-jax validate`'s
prediction for the same config, compiled for the matching target (1xh100, v5e-1, ...) when validate
knows it and for the CPU otherwise. Validate's verdict also decides which presets fit.

Timings come from `benchmarks/trainer_throughput.py` (interleaved step and matmul, medians). Every
measurement runs in a fresh process so that each peak belongs to one config alone (the parent
never opens the device: a TPU admits one process at a time). Writes NAME.json and NAME.md (NAME
is the platform: cpu, gpu or tpu) under --out and prints the table.

  python benchmarks/accelerator_check.py                      # defaults for the device present
  python benchmarks/accelerator_check.py --presets 1m 10m 60m --tokens_per_step 65536
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from admire_jax import gin_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(gin_cli.CONFIG_ROOT, "models")
GIB = 1 << 30
# Presets tried by default, and tokens per train step (batch = tokens / the preset's SEQ_LEN).
DEFAULT_PRESETS = {"cpu": ["1m", "10m"], "accelerator": ["1m", "10m", "60m", "150m", "410m", "1b"]}
DEFAULT_TOKENS_PER_STEP = {"cpu": 2048, "accelerator": 32768}
# jax device kinds -> the one-device target of `admire-jax validate --topology`.
VALIDATE_TARGETS = {"NVIDIA H100": "1xh100", "NVIDIA A100": "1xa100", "TPU v5 lite": "v5e-1", "TPU v6 lite": "v6e-1"}


def probe() -> dict:
    """The device this process sees (run in a worker)."""
    import jax

    device = jax.devices()[0]
    return {
        "platform": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "jax": jax.__version__,
    }


def measure_step(preset: str, attention: str, batch: int, seq_len: int, dtype: str, repeats: int) -> dict:
    """One preset's train step with one attention kernel on one device (run in a worker)."""
    import resource

    import jax
    from trainer_throughput import measure, preset_config

    from admire_jax.train.flops import peak_flops_per_device

    cfg = preset_config(preset, dtype, 384, [f"TransformerConfig.attention = '{attention}'"])
    row = measure(cfg, preset, batch, seq_len, dtype, repeats)
    device = jax.devices()[0]
    peak = peak_flops_per_device(device)
    stats = device.memory_stats() or {}
    row.update(
        attention=attention,
        datasheet_peak_flops=peak,
        mfu_vs_datasheet=round(row["model_gflops_per_s"] * 1e9 / peak, 3) if peak else None,
        measured_peak_bytes=stats.get("peak_bytes_in_use"),
        device_bytes_limit=stats.get("bytes_limit"),
        process_peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    return row


def attention_kernels(platform: str) -> list[str]:
    """The attention settings worth comparing on this platform."""
    return {"gpu": ["xla", "cudnn"], "cpu": ["xla", "auto"]}.get(platform, ["xla"])


def validate_target(device_kind: str, platform: str) -> str | None:
    """`admire-jax validate --topology` for this device, or None for validate's CPU target."""
    if platform == "cpu":
        return None
    return next((t for kind, t in VALIDATE_TARGETS.items() if device_kind.startswith(kind)), None)


def preset_macros(preset: str) -> dict[str, int]:
    """SEQ_LEN and GLOBAL_BATCH as the preset's gin file sets them."""
    found = {}
    with open(os.path.join(MODELS, f"{preset}.gin"), encoding="utf-8") as f:
        for line in f:
            name, eq, value = line.partition("=")
            if eq and name.strip() in ("SEQ_LEN", "GLOBAL_BATCH"):
                found[name.strip()] = int(value.strip())
    return found


def run_worker(args: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> tuple[dict | None, str]:
    """(the JSON a worker printed last, or None; the end of its output when it printed none)."""
    try:
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1]), ""
    tail = (done.stderr or done.stdout).strip().splitlines()
    return None, tail[-1] if tail else f"exit code {done.returncode}"


def validate(
    preset: str, batch: int, seq_len: int, dtype: str, target: str | None, memory_gib: float | None, timeout: float
) -> dict:
    """`admire-jax validate --json` for the measured config (XLA attention): its report, or an error."""
    argv = [
        "-m",
        "admire_jax.cli",
        "validate",
        f"--gin_file={os.path.join(MODELS, preset + '.gin')}",
        "--devices=1",
        "--mesh=data=1",
        "--json",
        "--accum_steps=1",  # the measured step's own batch, not the smallest accumulation that fits
        f"--gin.GLOBAL_BATCH={batch}",
        f"--gin.SEQ_LEN={seq_len}",
        f"--gin.TransformerConfig.dtype='{dtype}'",
        "--gin.TransformerConfig.attention='xla'",
    ]
    argv += [f"--topology={target}"] if target else []
    argv += [f"--device_memory_gib={memory_gib}"] if memory_gib else []
    env = dict(os.environ) if target else {**os.environ, "JAX_PLATFORMS": "cpu"}
    report, error = run_worker(argv, timeout, env)
    if report is None and target and "does not fit" not in error:  # the target's compiler is missing
        report = validate(preset, batch, seq_len, dtype, None, memory_gib, timeout)
        report["target_error"] = f"{target}: {error}"
        return report
    return report if report is not None else {"fits": False, "error": error}


def check(args: argparse.Namespace) -> dict:
    """Every measurement of this run, with the device it ran on."""
    this = os.path.abspath(__file__)
    device, error = run_worker([this, "--worker=probe"], args.timeout)
    if device is None:
        raise SystemExit(f"accelerator_check: cannot start jax: {error}")
    kind = "cpu" if device["platform"] == "cpu" else "accelerator"
    dtype = args.dtype or ("float32" if kind == "cpu" else "bfloat16")
    tokens = args.tokens_per_step or DEFAULT_TOKENS_PER_STEP[kind]
    target = validate_target(device["device_kind"], device["platform"])
    rows = []
    for preset in args.presets or DEFAULT_PRESETS[kind]:
        seq_len = args.seq_len or preset_macros(preset)["SEQ_LEN"]
        batch = max(1, tokens // seq_len)
        predicted = validate(preset, batch, seq_len, dtype, target, args.validate_memory_gib, args.timeout)
        base = {"preset": preset, "batch": batch, "seq_len": seq_len, "dtype": dtype, "validate": predicted}
        if not predicted.get("fits"):
            rows.append({**base, "skipped": predicted.get("error") or "does not fit (admire-jax validate)"})
            continue
        for attention in args.attention or attention_kernels(device["platform"]):
            started = time.time()
            row, error = run_worker(
                [
                    this,
                    "--worker=measure",
                    f"--preset={preset}",
                    f"--attention={attention}",
                    f"--batch={batch}",
                    f"--seq_len={seq_len}",
                    f"--dtype={dtype}",
                    f"--repeats={args.repeats}",
                ],
                args.timeout,
            )
            rows.append(
                {
                    **base,
                    "attention": attention,
                    **(row or {"error": error}),
                    "seconds": round(time.time() - started, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return {
        "device": device,
        "host_cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 1),
        "matmul_dtype": dtype,
        "tokens_per_step": tokens,
        "validate_target": target or "cpu",
        "rows": rows,
    }


def markdown(report: dict) -> str:
    """The report as a Markdown table, headed by the device it ran on."""
    d = report["device"]
    gib = lambda b: f"{b / GIB:.3f}" if b else "n/a"
    lines = [
        f"{d['device_kind']} ({d['platform']}, jax {d['jax']}, {report['host_cores']} host cores, load average "
        f"{report['load_average']}); model and matmul dtype {report['matmul_dtype']}; validate target "
        f"{report['validate_target']}",
        "",
        "| preset | attention | batch x seq | tokens/s | MFU vs matmul | matmul TFLOP/s | MFU vs datasheet "
        "| peak GiB measured | peak GiB validate | measured / validate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        size = f"{r['batch']} x {r['seq_len']}"
        predicted = r["validate"].get("peak_bytes_per_device")
        if "skipped" in r or "error" in r:
            lines.append(
                f"| {r['preset']} | {r.get('attention', '-')} | {size} | {r.get('skipped') or r['error']} "
                f"| | | | | {gib(predicted)} | |"
            )
            continue
        measured = r["measured_peak_bytes"] or r["process_peak_rss_bytes"]
        ratio = f"{measured / predicted:.2f}" if measured and predicted else "n/a"
        shown = gib(measured) if r["measured_peak_bytes"] else f"{gib(measured)} (process RSS)"
        datasheet = f"{100 * r['mfu_vs_datasheet']:.1f}%" if r["mfu_vs_datasheet"] is not None else "n/a"
        lines.append(
            f"| {r['preset']} | {r['attention']} | {size} | {r['tokens_per_s']:.0f} "
            f"| {100 * r['mfu_vs_matmul']:.1f}% | {r['matmul_gflops_per_s'] / 1e3:.3g} | {datasheet} "
            f"| {shown} | {gib(predicted)} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", help=f"default: {DEFAULT_PRESETS}")
    p.add_argument("--tokens_per_step", type=int, help=f"default: {DEFAULT_TOKENS_PER_STEP}")
    p.add_argument("--seq_len", type=int, help="default: the preset's SEQ_LEN")
    p.add_argument("--dtype", help="model and matmul dtype (default: bfloat16, float32 on CPU)")
    p.add_argument("--attention", nargs="+", choices=["xla", "cudnn", "auto"], help="default: the device's kernels")
    p.add_argument("--repeats", type=int, default=3, help="interleaved step + matmul timings per measurement")
    p.add_argument("--validate_memory_gib", type=float, help="device memory that validate judges fit against")
    p.add_argument("--timeout", type=float, default=1200, help="seconds allowed to each worker process")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "accelerator_check"))
    p.add_argument("--worker", choices=["probe", "measure"], help=argparse.SUPPRESS)
    p.add_argument("--preset", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for preset in [*(args.presets or []), *([args.preset] if args.preset else [])]:
        if preset not in gin_cli.known_presets():
            known = gin_cli.known_presets()
            p.error(f"unknown preset {preset!r}; known: {', '.join(known)}")
    for name in ("tokens_per_step", "seq_len", "repeats"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.worker == "probe":
        print(json.dumps(probe()))
        return 0
    if args.worker == "measure":
        attention = args.attention[0] if args.attention else "xla"
        print(json.dumps(measure_step(args.preset, attention, args.batch, args.seq_len, args.dtype, args.repeats)))
        return 0
    report = check(args)
    os.makedirs(args.out, exist_ok=True)
    name = os.path.join(args.out, report["device"]["platform"])
    with open(name + ".json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    table = markdown(report)
    with open(name + ".md", "w", encoding="utf-8") as f:
        f.write(table)
    print("\n" + table + f"\nwritten: {name}.json, {name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
