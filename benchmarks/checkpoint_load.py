"""Host memory and time of streaming a Hugging Face checkpoint onto a sharded mesh.

Builds a random bf16 Qwen2 checkpoint with transformers (sharded into 50 MB files), then loads it
with `load_hf_checkpoint` onto 8 simulated CPU devices (data 1 x fsdp 2 x tensor 4) under
tracemalloc. The goal is a host peak far below one copy of the model: parameters are assembled
device by device from memory-mapped files.

  python benchmarks/checkpoint_load.py [--dir runs/bench_ckpt]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import jax  # noqa: E402
from flax import nnx  # noqa: E402

from admire_jax.model import sharding  # noqa: E402
from admire_jax.model.hf import load_hf_checkpoint  # noqa: E402


def make_checkpoint(out: pathlib.Path) -> None:
    import torch
    import transformers

    cfg = transformers.Qwen2Config(
        vocab_size=32768,
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=6,
        num_attention_heads=12,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    )
    transformers.Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out, max_shard_size="50MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="runs/bench_ckpt", help="where the random checkpoint is kept")
    args = parser.parse_args()
    out = pathlib.Path(args.dir)
    if not out.exists():
        make_checkpoint(out)
    files = sorted(out.glob("*.safetensors"))
    mesh = sharding.make_mesh(data=1, fsdp=2, tensor=4)
    tracemalloc.start()
    start = time.perf_counter()
    model = load_hf_checkpoint(out, mesh, dtype="bfloat16")
    for _, value in nnx.to_flat_state(nnx.state(model)):
        jax.block_until_ready(value.get_value())
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    print(
        json.dumps(
            {
                "checkpoint_mib": round(sum(f.stat().st_size for f in files) / 2**20, 1),
                "files": len(files),
                "params_fp32_mib": round(model.config.total_params() * 4 / 2**20, 1),
                "load_seconds": round(seconds, 2),
                "peak_traced_host_mib": round(peak / 2**20, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
