"""Trainer throughput on this machine: tokens/s and MFU of the smallest presets.

MFU is measured against this machine's own matmul throughput, taken in the same run from a plain
`jnp.dot` loop at the model's widest matmul shape ([batch*seq, d_model] x [d_model, d_ff]) in the
model's compute dtype: on a CPU there is no datasheet peak to divide by. The matmul is timed just
before and just after the train steps and the higher figure is used (a conservative MFU).

  python benchmarks/trainer_throughput.py --presets 1m 10m 60m --batch 8 --seq_len 512
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np

from admire_jax.model import TransformerConfig, sharding
from admire_jax.train import optimizer, state, step
from admire_jax.train.model_spec import batch_partition_spec
from admire_jax.train.transformer_spec import transformer_spec

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "models")


def preset_config(name: str, dtype: str, vocab_size: int) -> TransformerConfig:
    gin.clear_config()
    gin.parse_config_file(os.path.join(CONFIGS, f"{name}.gin"))
    gin.bind_parameter("TransformerConfig.dtype", dtype)
    gin.bind_parameter("TransformerConfig.vocab_size", vocab_size)
    return TransformerConfig()


def matmul_flops_per_second(m: int, k: int, n: int, dtype: str, seconds: float = 3.0) -> float:
    """Sustained FLOP/s of x[m,k] @ w[k,n], several products per dispatch, best of a few rounds."""
    x = jax.random.normal(jax.random.key(0), (m, k)).astype(dtype)
    w = jax.random.normal(jax.random.key(1), (k, n)).astype(dtype)
    repeats = 8

    @jax.jit
    def products(x, w):
        def body(_, acc):
            return acc + jnp.dot(x + acc[:1, :1].astype(x.dtype), w).astype(jnp.float32)[:1, :1]
        return jax.lax.fori_loop(0, repeats, body, jnp.zeros((1, 1), jnp.float32))

    products(x, w).block_until_ready()
    best, deadline = 0.0, time.time() + seconds
    while time.time() < deadline or best == 0.0:
        start = time.perf_counter()
        products(x, w).block_until_ready()
        best = max(best, repeats * 2 * m * k * n / (time.perf_counter() - start))
    return best


def train_tokens_per_second(cfg: TransformerConfig, name: str, batch: int, seq_len: int, steps: int):
    """(tokens/s, model FLOP/s, compile seconds) of the real jitted train step on one device."""
    spec = transformer_spec(cfg, name)
    mesh = sharding.make_mesh(devices=jax.devices()[:1])
    schedule = optimizer.learning_rate_schedule(1000, learning_rate=1e-3)
    tx = optimizer.adamw(schedule)
    abstract, shardings = state.state_shardings(spec, mesh, tx)
    train_state = state.create_state(spec, mesh, tx, shardings)
    start = time.perf_counter()
    compiled = step.compile_train_step(spec, mesh, tx, schedule, abstract, shardings, batch, seq_len)
    compile_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 258, size=(batch, seq_len + 1)).astype(np.int32)
    data = {"inputs": tokens[:, :-1], "targets": tokens[:, 1:], "loss_mask": np.ones((batch, seq_len), np.float32),
            "segment_ids": np.ones((batch, seq_len), np.int32),
            "positions": np.broadcast_to(np.arange(seq_len, dtype=np.int32), (batch, seq_len)).copy()}
    data = jax.device_put(data, jax.sharding.NamedSharding(mesh, batch_partition_spec(spec, mesh)))
    train_state, metrics = compiled(train_state, data)  # warm-up
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        train_state, metrics = compiled(train_state, data)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / steps
    return batch * seq_len / seconds, spec.flops_per_step(seq_len, batch) / seconds, compile_seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["1m", "10m", "60m"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq_len", type=int, default=512)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--dtype", default="float32", help="model compute dtype (CPUs lack fast bf16)")
    p.add_argument("--vocab_size", type=int, default=384, help="ByteTokenizer's padded vocabulary")
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
          f"{jax.devices()[0].device_kind}")
    rows = []
    for name in args.presets:
        cfg = preset_config(name, args.dtype, args.vocab_size)
        shape = (args.batch * args.seq_len, cfg.d_model, cfg.d_ff)
        before = matmul_flops_per_second(*shape, args.dtype)
        tokens_per_s, flops_per_s, compile_s = train_tokens_per_second(cfg, name, args.batch, args.seq_len, args.steps)
        # the machine may be shared: bracket the train timing and divide by the better figure
        peak = max(before, matmul_flops_per_second(*shape, args.dtype))
        row = {"preset": name, "non_embedding_params": cfg.non_embedding_params(), "batch": args.batch,
               "seq_len": args.seq_len, "dtype": args.dtype, "tokens_per_s": round(tokens_per_s, 1),
               "model_gflops_per_s": round(flops_per_s / 1e9, 2), "matmul_gflops_per_s": round(peak / 1e9, 2),
               "mfu_vs_matmul": round(flops_per_s / peak, 3), "compile_s": round(compile_s, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| preset | tokens/s | model GFLOP/s | jnp.dot GFLOP/s | MFU vs dot |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['tokens_per_s']:.0f} | {r['model_gflops_per_s']} | {r['matmul_gflops_per_s']} "
              f"| {100 * r['mfu_vs_matmul']:.1f}% |")


if __name__ == "__main__":
    main()
