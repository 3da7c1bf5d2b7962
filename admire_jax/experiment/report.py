"""The end of an experiment: recommendation.json, report.md with its plots, and the status table."""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from admire_jax.experiment import diagnostics, plots, proposals
from admire_jax.experiment.controller import CHECK_ROLES, Controller
from admire_jax.experiment.store import OK, SEARCH, Trial


def finish(controller: Controller, run_check: bool) -> int:
    """Recommend, optionally run the check, write the outputs; 0, or 1 when nothing can be recommended."""
    exp, trials = controller.exp, controller.store.trials()
    found = proposals.recommend(exp, controller.warm, trials)
    if found is None:
        controller.log("no successful trial: nothing to recommend (see `admire-jax status`)")
        return 1
    opt, rec = found
    mixture = proposals.as_mixture(rec.mixture, exp.spec.domains)
    if run_check:
        controller.check(mixture)
        trials = controller.store.trials()
    check = check_values(trials, exp.spec)
    recommendation = {
        "mixture": mixture,
        "target_rung": exp.spec.target_rung,
        "predicted": rec.mean,
        "check": {role: (summary["mean"] if summary else None) for role, summary in check.items()},
        "objective": dict(exp.spec.objective.weights),
        "maximize": exp.spec.objective.maximize,
    }
    out = controller.exp_dir
    (out / "recommendation.json").write_text(json.dumps(recommendation, indent=1))
    write_report(controller, opt, rec, recommendation, check, trials)
    controller.log(f"recommendation: {json.dumps(recommendation)}")
    controller.log(f"report: {out / 'report.md'}")
    return 0


def check_values(trials: Sequence[Trial], spec) -> dict[str, dict | None]:
    """Per check role: mean, standard error and values of the objective over its seeds."""
    out = {}
    for role in CHECK_ROLES:
        values = [
            spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan for t in trials if t.role == role
        ]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            out[role] = None
            continue
        sem = float(np.std(finite, ddof=1) / math.sqrt(len(finite))) if len(finite) > 1 else math.nan
        out[role] = {"mean": float(np.mean(finite)), "sem": sem, "values": values}
    return out


def verdict(check: dict, maximize: bool = False) -> str:
    """How the recommended mixture compares with uniform at the target rung, in standard errors
    (`gap` > 0 means the recommended one is better: lower loss, or higher score when maximising)."""
    rec, uni = check.get("recommended"), check.get("uniform")
    if not rec or not uni:
        return "not run (use `--check_seeds=3`)"
    gap = (rec["mean"] - uni["mean"]) if maximize else (uni["mean"] - rec["mean"])
    se = math.sqrt(rec["sem"] ** 2 + uni["sem"] ** 2)
    word = ("higher" if maximize else "lower") if gap > 0 else ("lower" if maximize else "higher")
    if not math.isfinite(se):
        return f"recommended is {word} than uniform by {abs(gap):.4f} (a standard error needs >= 2 seeds each)"
    if se == 0.0:
        return f"recommended is {word} than uniform by {abs(gap):.4f}, with no variation between seeds"
    sig = "more" if gap > 2 * se else "not more"
    return (
        f"recommended is {word} than uniform by {abs(gap):.4f} = {abs(gap) / se:.1f} standard errors "
        f"({sig} than two standard errors)"
    )


def write_report(controller: Controller, opt, rec, recommendation: dict, check: dict, trials: Sequence[Trial]) -> None:
    exp, out = controller.exp, controller.exp_dir
    spec = exp.spec
    searched = [t for t in trials if t.role == SEARCH and t.is_finished]
    values = [spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan for t in searched]
    costs = [controller.spent([t]) for t in searched]
    uniform = {d: 1.0 / len(spec.domains) for d in spec.domains}
    loo = diagnostics.leave_one_out(exp, controller.warm, trials)
    ranks = diagnostics.rung_rank_correlations(spec, trials)
    figures = {
        "best_so_far.png": plots.best_so_far(
            searched, values, costs, spec.target_rung, spec.budget.unit, spec.objective.maximize
        ),
        "rungs.png": plots.rung_per_trial(searched, spec.ladder.names),
        "mixture.png": plots.mixture_bars(recommendation["mixture"], uniform),
        "calibration.png": plots.calibration(loo),
        "rank_correlation.png": plots.rung_scatter(diagnostics.shared_mixtures(spec, trials), ranks),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plots.close(fig)
    lines = [
        f"# Experiment report: {out.name}",
        "",
        f"Objective: {spec.objective.describe()}. Target rung: "
        f"`{spec.target_rung}`. Budget {spec.budget.amount:.4g} {spec.budget.unit}, spent "
        f"{controller.spent(searched):.4g} in {len(searched)} search trials "
        f"({sum(t.status == OK for t in searched)} ok).",
        "",
        "## Recommendation",
        "",
        "| domain | recommended | uniform |",
        "|---|---|---|",
    ]
    lines += [f"| {d} | {recommendation['mixture'][d]:.4f} | {uniform[d]:.4f} |" for d in spec.domains]
    at_target = sum(t.rung == spec.target_rung and t.status == OK for t in searched)
    rule = (
        f"the best posterior mean among the mixtures of the {at_target} search trials at the target rung"
        if spec.confirmation.recommend_from == "target_trials" and at_target
        else "the best posterior mean within the bounds"
    )
    lines += [
        "",
        f"Predicted target objective: {rec.mean:.4f} ± {rec.std:.4f} (posterior mean ± sd; {rule}).",
        "",
        "## Check at the target rung",
        "",
    ]
    for role in ("recommended", "uniform"):
        c = check.get(role)
        lines.append(
            f"- {role}: "
            + (
                "not trained"
                if not c
                else f"mean {c['mean']:.4f}, standard error {c['sem']:.4f}, seeds {[round(v, 4) for v in c['values']]}"
            )
        )
    lines += [
        f"- verdict: {verdict(check, spec.objective.maximize)}",
        "",
        "## Trials per rung",
        "",
        "| rung | model | parameters | tokens | declared FLOPs | trials | ok | measured cost | mean wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in spec.ladder.rungs:
        of = [t for t in searched if t.rung == r.name]
        walls = [t.wall_seconds for t in of if t.wall_seconds is not None]
        model = f"{r.preset} from {r.checkpoint}" if r.checkpoint else r.preset
        lines.append(
            f"| {r.name} | {model} | {exp.rung_params.get(r.name, 0):,} | {r.tokens} | "
            f"{exp.rung_flops[r.name]:.4g} | {len(of)} | {sum(t.status == OK for t in of)} | "
            f"{controller.spent(of):.4g} | {(sum(walls) / len(walls)) if walls else math.nan:.3g} |"
        )
    lines += [
        "",
        "## Model checks",
        "",
        f"Leave-one-out: {loo['inside']} of {loo['n']} finished trials fall inside the 90% interval of the "
        f"GP refitted without them ({_fraction(loo['inside'], loo['n'])}; well calibrated is about 90%; the "
        f"interval is the latent function's, without observation noise, so it errs on the narrow side).",
        "",
        "Rank correlation between rungs on shared mixtures (Spearman):",
        "",
    ]
    lines += [
        f"- {a} vs {b}: {rho:.3f} on {n} shared mixtures"
        if n >= 3
        else f"- {a} vs {b}: {n} shared mixtures (needs >= 3)"
        for (a, b), (rho, n) in ranks.items()
    ] or ["- only one rung"]
    lines += ["", *fidelity_section(opt)]
    lines += ["", "## Plots", ""] + [f"![{n}]({n})" for n in figures]
    (out / "report.md").write_text("\n".join(lines) + "\n")


FIDELITY_MODELS = {
    "linear_truncated": "one kernel over mixture and fidelity, the target its unbiased part",
    "ar1": "Kennedy-O'Hagan chain: each rung regressed on the next cheaper one",
    "ar1_star": "Kennedy-O'Hagan star: every rung regressed on the cheapest",
}


def fidelity_section(opt) -> list[str]:
    """The report's account of what the cheap rungs contributed: the fidelity model in use and, per
    rung, the model's correlation between that rung's and the target's latent objective across the
    mixtures tried (`Optimizer.rung_correlations`)."""
    lines = ["## Fidelity model", ""]
    if len(opt.rungs) == 1:
        return lines + ["One rung: a single-fidelity GP."]
    mixtures = np.unique(np.array([o["mixture"] for o in opt.successes()], dtype=float), axis=0)
    correlations = opt.rung_correlations(mixtures) if len(mixtures) >= 2 else None  # fits the GP
    chosen = (
        f", chosen by leave-one-out predictive density among {', '.join(opt.config.model_candidates)}"
        if opt.config.model == "auto"
        else ""
    )
    lines.append(f"Fidelity model: `{opt.fidelity_model}` ({FIDELITY_MODELS[opt.fidelity_model]}{chosen}).")
    if correlations is None:
        return lines + ["", "Rung correlations need at least two distinct mixtures tried."]
    lines += [
        "",
        f"Model correlation between each rung's latent objective and the target's, across the {len(mixtures)} "
        "mixtures tried (1: the rung ranks mixtures as the target does; 0: it says nothing about them):",
        "",
    ]
    return lines + [f"- {rung}: {value:.3f}" for rung, value in correlations.items()]


def status_text(controller: Controller) -> str:
    """The trials as a table, and the current recommendation."""
    spec, trials = controller.spec, controller.store.trials()
    header = f"{'id':>4} {'role':<11} {'rung':<10} {'status':<8} {'objective':>9} {'cost':>10}  mixture"
    lines = [header, "-" * len(header)]
    for t in trials:
        value = spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan
        cost = controller.spent([t]) if t.is_finished else math.nan
        mix = " ".join(f"{w:.2f}" for w in (t.mixture.get(d, 0.0) for d in spec.domains))
        lines.append(f"{t.id:>4} {t.role:<11} {t.rung:<10} {t.status:<8} {value:>9.4f} {cost:>10.3g}  {mix}")
        if t.error and t.status != OK:
            lines.append(f"     error: {t.error.splitlines()[0][:150]}")
    searched = [t for t in trials if t.role == SEARCH]
    lines += [
        "",
        f"domains: {' '.join(spec.domains)}",
        f"objective: {spec.objective.describe()}",
        f"spent {controller.spent(searched):.4g} of {spec.budget.amount:.4g} {spec.budget.unit}",
    ]
    found = proposals.recommend(controller.exp, controller.warm, trials)
    if found is None:
        lines.append("no recommendation yet (no successful trial)")
    else:
        _, rec = found
        lines.append(
            f"current recommendation at {spec.target_rung}: "
            f"{json.dumps(proposals.as_mixture(np.round(rec.mixture, 4), spec.domains))}, "
            f"predicted {rec.mean:.4f} ± {rec.std:.4f}"
        )
    return "\n".join(lines)


def _fraction(a: int, n: int) -> str:
    return "n/a" if n == 0 else f"{a / n:.0%}"
