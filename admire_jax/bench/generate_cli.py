"""`admire-jax generate-table`: write one synthetic run table with a known truth, and its sidecar.

Example (the replay suite's core table at Spearman 0.6):
  admire-jax generate-table --out tables/d19_s06.csv --domains 19 --cost_ratio 1:3:6 --rows 512,256,64 \
      --spearman 0.6 --noise 1 --objective loss --seed 2

The table is read by `admire-jax replay` with the options printed after writing it (see
`admire_jax.bench.generate` for how it is made).
"""

from __future__ import annotations

import sys

from admire_jax import gin_cli
from admire_jax.bench.generate import GeneratorError, GeneratorSpec, write_table

DEFAULTS = GeneratorSpec()


def _numbers(text: str, separator: str, what: str, cast=float) -> tuple:
    try:
        return tuple(cast(part) for part in text.split(separator))
    except ValueError:
        raise gin_cli.UsageError(f"--{what} {text!r}: expected numbers separated by {separator!r}") from None


def _parser() -> gin_cli.ArgumentParser:
    p = gin_cli.ArgumentParser(prog="admire-jax generate-table", description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--out", required=True, help="the table's CSV path (the sidecar goes beside it, .json)")
    p.add_argument("--domains", type=int, default=DEFAULTS.domains, help="number of mixture domains D")
    p.add_argument(
        "--cost_ratio",
        default=":".join(f"{c:g}" for c in DEFAULTS.cost_ratio),
        help="cost per run of each rung, cheapest first, target last, e.g. 1:3:6 (one number: a single-fidelity table)",
    )
    p.add_argument("--rows", default=",".join(map(str, DEFAULTS.rows)), help="rows per rung, same order")
    p.add_argument(
        "--spearman",
        type=float,
        default=DEFAULTS.spearman,
        help="cheapest-rung-to-target Spearman of the noiseless values over the target rows' mixtures",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=DEFAULTS.noise,
        help="observation noise sd, in units of the gap between the two best noiseless target rows",
    )
    p.add_argument(
        "--objective", choices=("score", "loss"), default="score", help="a score (maximised) or a loss (minimised)"
    )
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument(
        "--saturation",
        type=float,
        default=DEFAULTS.saturation,
        help="saturation scale s of the per-domain effects 1 - exp(-w/s)",
    )
    p.add_argument(
        "--interaction_scale",
        type=float,
        default=DEFAULTS.interaction_scale,
        help="sd of the pairwise interaction coefficients",
    )
    return p


def main(argv: list[str]) -> int:
    """Write the table and its sidecar; print the achieved Spearman and noise and the replay options."""
    try:
        args = _parser().parse_args(argv)
        spec = GeneratorSpec(
            domains=args.domains,
            cost_ratio=_numbers(args.cost_ratio, ":", "cost_ratio"),
            rows=_numbers(args.rows, ",", "rows", int),
            spearman=args.spearman,
            noise=args.noise,
            maximize=args.objective == "score",
            seed=args.seed,
            saturation=args.saturation,
            interaction_scale=args.interaction_scale,
        )
        sidecar = write_table(args.out, spec)
    except (gin_cli.UsageError, GeneratorError) as error:
        print(f"admire-jax generate-table: error: {error}", file=sys.stderr)
        return 2
    columns = spec.columns
    for rung in sidecar["rungs"]:
        extra = (
            (
                f", Spearman {rung['spearman']:.3f} (asked {rung['requested_spearman']:.3f}), top-decile "
                f"agreement {rung['top_decile_agreement']:.2f}"
            )
            if "spearman" in rung
            else ""
        )
        print(f"{rung['label']}: {rung['rows']} rows, cost {rung['cost']:.4g}, noise {rung['noise']:.2f} gaps{extra}")
    print(f"wrote {args.out}; replay it with: {' '.join(columns.replay_options(args.out))}")
    return 0
