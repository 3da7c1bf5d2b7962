"""Build (or check) the built-in corpus and print what it holds.

    python -m admire_jax.data [--max_bytes 2000000] [--data_dir DIR] [--seq_len 512]

Run once on a fresh machine to pay the build before training; prints, per domain, documents,
bytes and the number of train / validation sequences of `seq_len` byte tokens.
"""

from __future__ import annotations

import argparse
import sys

from admire_jax.data.builtin import DEFAULT_MAX_BYTES, builtin_domains, builtin_manifest, builtin_targets
from admire_jax.data.stream import token_stream
from admire_jax.data.tokenizer import ByteTokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admire_jax.data", description=__doc__)
    parser.add_argument("--max_bytes", type=int, default=DEFAULT_MAX_BYTES)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--seq_len", type=int, default=512)
    args = parser.parse_args(argv)
    if args.max_bytes <= 0 or args.seq_len <= 0:
        print("python -m admire_jax.data: --max_bytes and --seq_len must be positive", file=sys.stderr)
        return 2
    domains = builtin_domains(max_bytes=args.max_bytes, data_dir=args.data_dir)
    targets = builtin_targets(max_bytes=args.max_bytes, data_dir=args.data_dir)
    manifest = builtin_manifest(max_bytes=args.max_bytes, data_dir=args.data_dir)
    tok = ByteTokenizer()
    print(f"built-in corpus {manifest['fingerprint'][:16]}, this selection {manifest['hash'][:16]}")
    print(f"{'domain':<18}{'docs':>7}{'bytes':>11}{'train seqs':>12}{'val seqs':>10}")
    for d in domains + targets:
        info = manifest["domains"][d.name]
        train, val = (len(token_stream(d, s, tok, args.data_dir)) // args.seq_len for s in ("train", "validation"))
        role = "  (target)" if d in targets else ""
        print(f"{d.name:<18}{info['documents']:>7}{info['bytes']:>11}{train:>12}{val:>10}{role}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
