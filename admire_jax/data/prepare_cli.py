"""`admire-jax prepare`: tokenise every configured domain once, before any training.

  admire-jax prepare --gin_file=configs/data/local.gin [--gin.NAME=VALUE] [--processes=N]
                     [--train_sentencepiece [--vocab_size=8192] [--sample_bytes=20000000]]

Reads the data registry from the gin files (`configured_domains`, `configured_targets`,
`configured_tokenizer`; see docs/data.md), builds each missing token cache in parallel over
processes and prints what each split holds. With --train_sentencepiece it first trains a
SentencePiece model on a sample of the training domains and writes it where
`configured_tokenizer.path` names. Given an experiment file, it prepares what the experiment's
trials read (the built-in corpus at `experiment.max_bytes`). `train` and `optimize` prepare what is
missing themselves.
Exit codes: 0 ok, 2 bad input (a missing, unprepared or empty dataset, a missing tokenizer file).
"""

from __future__ import annotations

import sys

import gin

from admire_jax import gin_cli
from admire_jax.data.configured import BUILTIN_MAX_BYTES
from admire_jax.gin_cli import UsageError


@gin_cli.clears_gin
def main(argv: list[str]) -> int:
    p = gin_cli.parser("admire-jax prepare", "Tokenise the configured domains into the token cache.")
    p.add_argument("--processes", type=int, help="tokenising processes (default: one per CPU core)")
    p.add_argument("--train_sentencepiece", action="store_true", help="train the configured .model first")
    p.add_argument("--vocab_size", type=int, default=8192, help="SentencePiece vocabulary (before padding)")
    p.add_argument("--sample_bytes", type=int, default=20_000_000, help="training text sampled for SentencePiece")
    try:
        import admire_jax.data  # noqa: F401  (registers the registry's configurables before parsing)
        from admire_jax.data.prepare import prepare_configured, train_configured_sentencepiece

        args, bindings = gin_cli.parse_args(p, argv)
        gin_cli.parse_gin(args.gin_file, bindings, gin_cli.search_paths(args))
        with gin.unlock_config():
            if args.processes is not None:
                gin.bind_parameter("token_cache.processes", args.processes)
            max_bytes = gin_cli.bound("experiment.max_bytes")
            if max_bytes is not None:  # an experiment file: the built-in corpus at the size its trials read
                for name in BUILTIN_MAX_BYTES:
                    gin.bind_parameter(name, int(max_bytes))
        if args.train_sentencepiece:
            path = train_configured_sentencepiece(args.vocab_size, args.sample_bytes)
            print(f"trained SentencePiece model {path}")
        records = prepare_configured()
    except (UsageError, ValueError) as exc:  # gin appends "In call to configurable ..." lines: dropped
        print(f"admire-jax prepare: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"{'domain':<24}{'split':<12}{'documents':>11}{'tokens':>14}")
    for r in records:
        print(f"{r['domain']:<24}{r['split']:<12}{r['documents']:>11}{r['tokens']:>14}")
    return 0
