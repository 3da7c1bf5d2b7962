"""The end of an experiment: recommendation.json, report.md with its plots, and the status table."""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from admire_jax.experiment import diagnostics, plots, proposals, recommendation_path
from admire_jax.experiment.controller import CHECK_ROLES, Controller
from admire_jax.experiment.fidelity_section import fidelity_section
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
    gain = paired_gain(check, exp.spec.objective.maximize)
    recommendation = {
        "mixture": mixture,
        "target_rung": exp.spec.target_rung,
        "predicted": rec.mean,
        "check": {role: (summary["mean"] if summary else None) for role, summary in check.items()},
        "check_gain": gain and {**gain, "sem": gain["sem"] if math.isfinite(gain["sem"]) else None},  # JSON has no NaN
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
    """Per check role: mean, standard error and values of the objective over its seeds (`values[i]`
    is seed `seeds[i]`'s; NaN where the trial failed)."""
    out = {}
    for role in CHECK_ROLES:
        of = sorted((t for t in trials if t.role == role), key=lambda t: t.seed)
        values = [spec.objective.value(t.losses, t.scores) if t.status == OK else math.nan for t in of]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            out[role] = None
            continue
        out[role] = {
            "mean": float(np.mean(finite)),
            "sem": sem(finite),
            "values": values,
            "seeds": [t.seed for t in of],
        }
    return out


def paired_gain(check: dict, maximize: bool = False) -> dict | None:
    """How much better the recommended mixture did than uniform, seed by seed, over the check seeds
    both trained successfully (positive: better, i.e. lower loss or higher score): mean, standard
    error and the seeds. Pairing by seed removes what a seed does to both mixtures alike, which the
    two means' separate standard errors count twice. None without such a seed."""
    rec, uni = check.get("recommended"), check.get("uniform")
    if not rec or not uni:
        return None
    r, u = dict(zip(rec["seeds"], rec["values"])), dict(zip(uni["seeds"], uni["values"]))
    seeds = sorted(s for s in set(r) & set(u) if math.isfinite(r[s]) and math.isfinite(u[s]))
    if not seeds:
        return None
    gains = [(r[s] - u[s]) if maximize else (u[s] - r[s]) for s in seeds]
    return {"mean": float(np.mean(gains)), "sem": sem(gains), "seeds": seeds}


def verdict(check: dict, maximize: bool = False) -> str:
    """How the recommended mixture compares with uniform at the target rung, in standard errors of
    their difference paired by check seed (`paired_gain`)."""
    gain = paired_gain(check, maximize)
    if gain is None:
        return "not run (use `--check_seeds=3`)"
    g, se, n = gain["mean"], gain["sem"], len(gain["seeds"])
    word = ("higher" if maximize else "lower") if g > 0 else ("lower" if maximize else "higher")
    if not math.isfinite(se):
        return f"recommended is {word} than uniform by {abs(g):.4f} on one seed (a standard error needs >= 2 seeds)"
    if se == 0.0:
        return f"recommended is {word} than uniform by {abs(g):.4f} on each of {n} seeds"
    sig = "more" if g > 2 * se else "not more"
    return (
        f"recommended is {word} than uniform by {abs(g):.4f} ± {se:.4f} over {n} seeds = {abs(g) / se:.1f} "
        f"standard errors of the paired difference ({sig} than two standard errors)"
    )


def write_report(controller: Controller, opt, rec, recommendation: dict, check: dict, trials: Sequence[Trial]) -> None:
    """report.md and its plots: first whether the search worked (the check, the recommendation's
    posterior as the budget was spent, what each rung cost and told), then the details."""
    exp, out = controller.exp, controller.exp_dir
    spec = exp.spec
    searched = [t for t in trials if t.role == SEARCH and t.is_finished]
    uniform = {d: 1.0 / len(spec.domains) for d in spec.domains}
    cost_of = lambda t: controller.spent([t])  # noqa: E731
    path = recommendation_path.recommendation_path(exp, controller.warm, trials, cost_of)
    spending = recommendation_path.cost_per_rung(trials, cost_of, spec.ladder.names)
    loo = diagnostics.leave_one_out(exp, controller.warm, trials)
    ranks = diagnostics.rung_rank_correlations(spec, trials)
    checked = bool(check.get("recommended") and check.get("uniform"))
    figures = {
        "recommendation_path.png": plots.recommendation_path(path, spending, spec.target_rung, spec.budget.unit, check),
        **({"check.png": plots.check_pairs(check, spec.objective.maximize)} if checked else {}),
        "mixture.png": plots.mixture_bars(recommendation["mixture"], uniform),
        "calibration.png": plots.calibration(loo),
        "rank_correlation.png": plots.rung_scatter(diagnostics.shared_mixtures(spec, trials), ranks),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plots.close(fig)
    spent = controller.spent(searched)
    shares = ", ".join(
        f"{r} {_fraction(spending['per_rung'][r][-1] if searched else 0.0, spent)}" for r in spec.ladder.names
    )
    lines = [
        f"# Experiment report: {out.name}",
        "",
        f"Objective: {spec.objective.describe()}. Target rung: `{spec.target_rung}`. Budget "
        f"{spec.budget.amount:.4g} {spec.budget.unit}, spent {spent:.4g} in {len(searched)} search trials "
        f"({sum(t.status == OK for t in searched)} ok): {shares}.",
        "",
        "## Did the search work?",
        "",
        f"- Check at the target rung: {verdict(check, spec.objective.maximize)}.",
        f"- {_path_line(path, spec.budget.unit)}",
        "",
        "![recommendation_path.png](recommendation_path.png)",
    ]
    if checked:
        lines += ["", "![check.png](check.png)"]
    lines += [
        "",
        *fidelity_section(opt),
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
    for role in CHECK_ROLES:
        c = check.get(role)
        lines.append(
            f"- {role}: "
            + (
                "not trained"
                if not c
                else f"mean {c['mean']:.4f}, standard error {c['sem']:.4f}, "
                f"seeds {dict(zip(c['seeds'], (round(v, 4) for v in c['values'])))}"
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
    shown = ("recommendation_path.png", "check.png")
    lines += ["", "## More plots", ""] + [f"![{n}]({n})" for n in figures if n not in shown]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _path_line(path: Sequence[recommendation_path.PathPoint], unit: str) -> str:
    """The recommendation's posterior at the first and the last refit of `recommendation_path`."""
    if not path:
        return "No search trial succeeded: no recommendation to follow."
    first, last = path[0], path[-1]
    return (
        f"The recommendation's posterior (mean ± sd at the target rung), refitted at {len(path)} points of "
        f"the search: {first.mean:.4f} ± {first.std:.4f} after {_trials(first.finished)} ({first.cost:.4g} {unit}), "
        f"{last.mean:.4f} ± {last.std:.4f} after {_trials(last.finished)} ({last.cost:.4g} {unit})."
    )


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


def _trials(n: int) -> str:
    return "1 trial" if n == 1 else f"{n} trials"


def sem(values: Sequence[float]) -> float:
    """Standard error of the mean (sample sd, ddof 1); NaN for fewer than two values."""
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def _fraction(a: int, n: int) -> str:
    return "n/a" if n == 0 else f"{a / n:.0%}"
