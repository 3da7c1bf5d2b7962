"""What an experiment scores: a weighted sum of validation losses and result.json scores.

A key names a validation domain ('numpy_stubs') or, with the prefix 'score:', a score the trials
write to result.json ('score:exact_match'); `split_objective_key` is the one parser of that form.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping

SCORE = "score:"


class SpecError(ValueError):
    """The experiment config cannot be run; the message names the problem."""


def split_objective_key(key: str) -> tuple[bool, str]:
    """(is it a score, its name): 'score:NAME' -> (True, NAME), a domain -> (False, domain)."""
    return (True, key[len(SCORE) :]) if key.startswith(SCORE) else (False, key)


@dataclasses.dataclass(frozen=True)
class Objective:
    """{key: weight} with weights summing to 1, and whether higher is better."""

    weights: Mapping[str, float]
    maximize: bool

    def __post_init__(self):
        if not self.weights or any(not (w > 0 and math.isfinite(w)) for w in self.weights.values()):
            raise SpecError(f"objective weights must be positive, got {dict(self.weights)}")
        if any(not name for name in self.score_names):
            raise SpecError(f"objective key {SCORE!r} needs a score name, e.g. '{SCORE}exact_match'")

    @classmethod
    def parse(cls, objective: str | Mapping[str, float], maximize: bool | None = None) -> Objective:
        """One key or {key: weight} (weights scaled to sum 1); `maximize` None means False for
        losses and True for scores (a mix of both must say)."""
        weights = (
            {objective: 1.0} if isinstance(objective, str) else {str(k): float(v) for k, v in dict(objective).items()}
        )
        total = sum(weights.values())
        if total > 0 and math.isfinite(total):  # a weighted mean; bad weights are reported by __post_init__
            weights = {k: v / total for k, v in weights.items()}
        if maximize is None:
            kinds = {split_objective_key(k)[0] for k in weights}
            if len(kinds) > 1:
                raise SpecError(f"objective {weights} mixes losses and scores: set experiment.maximize")
            maximize = kinds == {True}
        return cls(weights, bool(maximize))

    @property
    def score_names(self) -> list[str]:
        """Names of the result.json scores the objective reads."""
        return [name for is_score, name in map(split_objective_key, self.weights) if is_score]

    @property
    def loss_domains(self) -> list[str]:
        """Domains whose validation loss the objective reads."""
        return [name for is_score, name in map(split_objective_key, self.weights) if not is_score]

    def value(
        self, losses: Mapping[str, float | None] | None, scores: Mapping[str, float | None] | None = None
    ) -> float:
        """Weighted sum of validation losses and scores; NaN when any part is missing or not finite."""
        total = 0.0
        for key, w in self.weights.items():
            is_score, name = split_objective_key(key)
            v = ((scores if is_score else losses) or {}).get(name)
            if v is None or not math.isfinite(v):
                return math.nan
            total += w * float(v)
        return total

    def describe(self) -> str:
        """E.g. 'score:exact_match (maximised)' or '0.5 × a + 0.5 × b (minimised)'."""
        parts = [f"{w:g} × {k}" if w != 1 else k for k, w in self.weights.items()]
        return f"{' + '.join(parts)} ({'maximised' if self.maximize else 'minimised'})"
