"""Trainer throughput on this machine: tokens/s and MFU of the smallest presets.

MFU is measured against this machine's own matmul throughput, taken in the same run from a plain
`jnp.dot` loop at the model's widest matmul shape ([batch*seq, d_model] x [d_model, d_ff]) in the
model's compute dtype: on a CPU there is no datasheet peak to divide by. The machine may be shared,
so the two are interleaved: each repeat times one train step and, right beside it, the matmul
(best of a few products, before and after the step); the MFU of a repeat is the step's model
FLOP/s over that repeat's matmul FLOP/s, and the table reports medians over repeats.

  python benchmarks/trainer_throughput.py --presets 1m 10m 60m --batch 8 --seq_len 512 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from admire_jax import gin_cli
from admire_jax.model import TransformerConfig, sharding
from admire_jax.train import optimizer, state, step
from admire_jax.train.model_spec import batch_partition_spec
from admire_jax.train.transformer_spec import transformer_spec


def preset_config(name: str, dtype: str, vocab_size: int, bindings: Sequence[str] = ()) -> TransformerConfig:
    """The model of preset `name` with `dtype` and `vocab_size` (the benchmark's one gin parse)."""
    gin_cli.parse_gin(
        [gin_cli.preset_file(name)],
        [f"TransformerConfig.dtype = '{dtype}'", f"TransformerConfig.vocab_size = {vocab_size}", *bindings],
    )
    return TransformerConfig()


def matmul_timer(m: int, k: int, n: int, dtype: str) -> Callable[[int], float]:
    """A function best_of(calls) -> FLOP/s of x[m,k] @ w[k,n], several products per dispatch."""
    x = jax.random.normal(jax.random.key(0), (m, k)).astype(dtype)
    w = jax.random.normal(jax.random.key(1), (k, n)).astype(dtype)
    repeats = 8

    @jax.jit
    def products(x, w):
        def body(_, acc):
            return acc + jnp.dot(x + acc[:1, :1].astype(x.dtype), w).astype(jnp.float32)[:1, :1]

        return jax.lax.fori_loop(0, repeats, body, jnp.zeros((1, 1), jnp.float32))

    products(x, w).block_until_ready()

    def best_of(calls: int) -> float:
        best = 0.0
        for _ in range(calls):
            start = time.perf_counter()
            products(x, w).block_until_ready()
            best = max(best, repeats * 2 * m * k * n / (time.perf_counter() - start))
        return best

    return best_of


def train_step_timer(cfg: TransformerConfig, name: str, batch: int, seq_len: int):
    """(time_one_step() -> seconds, model FLOPs per step, compile seconds) of the real jitted step."""
    spec = transformer_spec(cfg, name)
    mesh = sharding.make_mesh(devices=jax.devices()[:1])
    schedule = optimizer.learning_rate_schedule(1000, learning_rate=1e-3)
    tx = optimizer.adamw(schedule)
    abstract, shardings = state.state_shardings(spec, mesh, tx)
    holder = {"state": state.create_state(spec, mesh, tx, shardings)}
    start = time.perf_counter()
    compiled = step.compile_train_step(spec, mesh, tx, schedule, abstract, shardings, batch, seq_len)
    compile_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 258, size=(batch, seq_len + 1)).astype(np.int32)
    data = {
        "inputs": tokens[:, :-1],
        "targets": tokens[:, 1:],
        "loss_mask": np.ones((batch, seq_len), np.float32),
        "segment_ids": np.ones((batch, seq_len), np.int32),
        "positions": np.broadcast_to(np.arange(seq_len, dtype=np.int32), (batch, seq_len)).copy(),
    }
    data = jax.device_put(data, jax.sharding.NamedSharding(mesh, batch_partition_spec(spec, mesh)))

    def time_one_step() -> float:
        start = time.perf_counter()
        holder["state"], metrics = compiled(holder["state"], data)
        jax.block_until_ready(metrics)
        return time.perf_counter() - start

    time_one_step()  # warm-up
    return time_one_step, spec.flops_per_step(seq_len, batch), compile_seconds


def measure(cfg: TransformerConfig, name: str, batch: int, seq_len: int, dtype: str, repeats: int) -> dict:
    """Interleaved train-step and matmul timings; medians over repeats."""
    matmul = matmul_timer(batch * seq_len, cfg.d_model, cfg.d_ff, dtype)
    time_one_step, flops_per_step, compile_s = train_step_timer(cfg, name, batch, seq_len)
    steps, peaks, ratios = [], [], []
    for _ in range(repeats):
        before = matmul(3)
        seconds = time_one_step()
        peak = max(before, matmul(3))
        steps.append(seconds)
        peaks.append(peak)
        ratios.append(flops_per_step / seconds / peak)
    seconds = statistics.median(steps)
    return {
        "preset": name,
        "non_embedding_params": cfg.non_embedding_params(),
        "batch": batch,
        "seq_len": seq_len,
        "dtype": dtype,
        "scan_unroll": cfg.scan_unroll,
        "repeats": repeats,
        "tokens_per_s": round(batch * seq_len / seconds, 1),
        "model_gflops_per_s": round(flops_per_step / seconds / 1e9, 2),
        "matmul_gflops_per_s": round(statistics.median(peaks) / 1e9, 2),
        "mfu_vs_matmul": round(statistics.median(ratios), 3),
        "mfu_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "compile_s": round(compile_s, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["1m", "10m", "60m"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq_len", type=int, default=512)
    p.add_argument("--repeats", type=int, default=5, help="interleaved step + matmul timings per preset")
    p.add_argument(
        "--dtype",
        nargs="+",
        default=["float32"],
        help="model compute dtype(s); the matmul reference uses the same dtype",
    )
    p.add_argument("--vocab_size", type=int, default=384, help="ByteTokenizer's padded vocabulary")
    p.add_argument("--gin", action="append", default=[], help="extra binding, e.g. TransformerConfig.scan_unroll=1")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
        f"{jax.devices()[0].device_kind}, load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    for dtype in args.dtype:
        for name in args.presets:
            cfg = preset_config(name, dtype, args.vocab_size, args.gin)
            row = measure(cfg, name, args.batch, args.seq_len, dtype, args.repeats)
            row["load_average"] = round(os.getloadavg()[0], 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| preset | dtype | batch x seq | tokens/s | model GFLOP/s | jnp.dot GFLOP/s | MFU vs dot (median) | range |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['dtype']} | {r['batch']} x {r['seq_len']} | {r['tokens_per_s']:.0f} "
            f"| {r['model_gflops_per_s']} | {r['matmul_gflops_per_s']} | {100 * r['mfu_vs_matmul']:.1f}% "
            f"| {100 * r['mfu_range'][0]:.0f}-{100 * r['mfu_range'][1]:.0f}% |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
