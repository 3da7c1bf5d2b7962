"""The report's account of what the cheap rungs contributed: the fidelity model and rung correlations."""

from __future__ import annotations

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
    mixtures = opt.tried_mixtures()
    correlations = opt.rung_correlations(mixtures) if len(mixtures) >= 2 else None  # fits the GP
    chosen = (
        ", chosen by leave-one-out predictive density of the target rows among "
        + ", ".join(c.label for c in opt.config.model_candidates)
        if opt.config.model == "auto"
        else ""
    )
    model = opt.fidelity_model
    lines.append(f"Fidelity model: `{model.label}` ({FIDELITY_MODELS[model.kind]}{chosen}).")
    if correlations is None:
        return lines + ["", "Rung correlations need at least two distinct mixtures tried."]
    lines += [
        "",
        f"Model correlation between each rung's latent objective and the target's, across the {len(mixtures)} "
        "mixtures tried (1: the rung ranks mixtures as the target does; 0: it says nothing about them):",
        "",
    ]
    return lines + [f"- {rung}: {value:.3f}" for rung, value in correlations.items()]
