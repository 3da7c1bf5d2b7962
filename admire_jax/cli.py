"""The `admire-jax` command: one sub-command per job, each living in its own layer."""

from __future__ import annotations

import importlib
import sys

# sub-command -> "module:function"; modules are imported only when their command runs,
# so `admire-jax replay` never pays for importing the trainer.
COMMANDS: dict[str, tuple[str, str]] = {
    "optimize": ("admire_jax.experiment.cli:optimize", "search the best mixture: BO proposes, proxies train, repeat"),
    "status": ("admire_jax.experiment.cli:status", "print an experiment's trials and current recommendation"),
    "report": ("admire_jax.experiment.cli:report", "write report.md, plots and recommendation.json"),
    "export": ("admire_jax.experiment.cli:export", "write an experiment's trials as a replay-format runs table"),
    "replay": ("admire_jax.bench.cli:main", "replay BO and baselines over a table of finished runs"),
    "generate-table": ("admire_jax.bench.generate_cli:main", "write a synthetic run table with a known truth"),
    "prepare": ("admire_jax.data.prepare_cli:main", "tokenise the configured domains once (and train a tokenizer)"),
    "train": ("admire_jax.train.cli:main", "train one model on one mixture (gin-configured)"),
    "validate": ("admire_jax.train.validate:main", "compile a large config ahead of time; report memory and FLOPs"),
}


def _usage() -> str:
    lines = ["usage: admire-jax COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the sub-command's own `main(argv) -> int`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"admire-jax: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    return int(getattr(importlib.import_module(module_name), func_name)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
