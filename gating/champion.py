"""Champion comparison, pure: hold a gated model against its symbol's champion.

With ``[gating.champion]`` listing, say, ``fitness = 0.02``, a model whose gate says
APPROVED but whose fitness is more than 2% below the champion's is REVIEW instead, with
the flag BELOW_CHAMPION. Relative step backs (``champion`` is the champion's value):

- fitness, profit_factor, consistency: ``(champion - value) / |champion|``;
- max_drawdown: ``(value - champion) / |champion|`` (a larger drawdown is worse);
- a champion value of 0: the plain difference (as FITNESS_DECLINE does with a zero peak);
- an infinite profit factor: equal to the champion's is no step back, a finite one
  against an infinite champion is a step back of 1 (all of it), an infinite one against
  a finite champion is minus infinity (ahead).

A step back exactly at its tolerance (up to float rounding) passes. A missing value on
either side is not compared. The first model of a symbol has no champion and passes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from gating.comparison import COMPARED_METRICS, ChampionComparison
from gating.rules import Classification, Flag, ModelAssessment, exceeds

__all__ = [
    "ChampionMetrics",
    "below_reasons",
    "champion_reasons",
    "compare",
    "compare_metrics",
    "compare_models",
    "comparison_lines",
    "step_back",
]


@dataclass(frozen=True, slots=True)
class ChampionMetrics:
    """A champion as the comparison needs it: its run and its four metrics."""

    timestamp: str
    run_id: str | None
    metrics: Mapping[str, float | None]

    @classmethod
    def of(cls, timestamp: str, run_id: str | None, assessment: ModelAssessment) -> ChampionMetrics:
        """The champion a just-gated APPROVED model becomes."""
        return cls(timestamp, run_id, {m: assessment.metric(m) for m in COMPARED_METRICS})


def step_back(metric: str, value: float | None, champion: float | None) -> float | None:
    """How far ``value`` falls behind ``champion`` on ``metric``, as a fraction (see above)."""
    if value is None or champion is None:
        return None
    if math.isinf(value) or math.isinf(champion):
        if value == champion:
            return 0.0
        return 1.0 if math.isinf(champion) else -math.inf
    behind = value - champion if metric == "max_drawdown" else champion - value
    return behind if champion == 0 else behind / abs(champion)


def compare_metrics(
    values: Mapping[str, float | None],
    champion: ChampionMetrics | None,
    tolerances: Mapping[str, float],
) -> ChampionComparison:
    """What holding these metric values against ``champion`` finds (None: no champion)."""
    if champion is None:
        return ChampionComparison(None, None, {}, dict(tolerances))
    steps = {
        metric: step_back(metric, values.get(metric), champion.metrics.get(metric))
        for metric in tolerances
    }
    below = tuple(
        metric
        for metric, step in steps.items()
        if step is not None and exceeds(step, tolerances[metric])
    )
    return ChampionComparison(
        champion.timestamp, champion.run_id, dict(champion.metrics), dict(tolerances), steps, below
    )


def compare(
    assessment: ModelAssessment,
    champion: ChampionMetrics | None,
    tolerances: Mapping[str, float],
) -> tuple[ModelAssessment, ChampionComparison | None]:
    """The assessment held against its champion, and what the comparison found.

    An empty table compares nothing (the assessment comes back as it was, with None).
    Only an APPROVED model changes class; every model carries the comparison.
    """
    if not tolerances:
        return assessment, None
    values = {metric: assessment.metric(metric) for metric in tolerances}
    found = compare_metrics(values, champion, tolerances)
    if found.below and assessment.classification is Classification.APPROVED:
        adjusted = dataclasses.replace(
            assessment,
            classification=Classification.REVIEW,
            flags=(*assessment.flags, Flag.BELOW_CHAMPION),
            champion=found,
        )
        return adjusted, found
    return dataclasses.replace(assessment, champion=found), found


def compare_models(
    assessments: Iterable[ModelAssessment],
    champions: MutableMapping[str, ChampionMetrics | None],
    tolerances: Mapping[str, float],
    timestamp: str,
    run_id: str | None,
) -> tuple[ModelAssessment, ...]:
    """Compare one run's models with ``champions`` (by symbol), then crown its APPROVED ones.

    ``champions`` must hold every symbol of the run (None: no champion); each model that
    stays APPROVED becomes its symbol's champion for the runs after this one.
    """
    if not tolerances:
        return tuple(assessments)
    result = []
    for assessment in assessments:
        adjusted, _ = compare(assessment, champions[assessment.symbol], tolerances)
        if adjusted.classification is Classification.APPROVED:
            champions[assessment.symbol] = ChampionMetrics.of(timestamp, run_id, adjusted)
        result.append(adjusted)
    return tuple(result)


def _value(value: float | None, other: float | None) -> str:
    """A metric value in as few decimals (at least two) as tell it from ``other``."""
    if value is None:
        return "missing"
    if math.isinf(value):
        return "inf"
    if other is None or math.isinf(other) or value == other:
        return f"{value:.2f}"
    for digits in range(2, 12):
        text = f"{value:.{digits}f}"
        if text != f"{other:.{digits}f}":
            return text
    return repr(value)


def _percent(step: float, tolerance: float) -> str:
    """A step back as a percentage, with enough decimals to tell it from the tolerance."""
    for digits in range(1, 10):
        text = f"{abs(step):.{digits}%}"
        if text != f"{tolerance:.{digits}%}":
            return text
    return f"{abs(step):%}"


def _words(metric: str, comparison: ChampionComparison, value: float | None) -> str:
    champion = comparison.metrics.get(metric)
    step = comparison.step_back.get(metric)
    stamp = comparison.timestamp or "an earlier run"  # whole: it names the run to look at
    ours, theirs = _value(value, champion), _value(champion, value)
    if step is None:
        return f"{metric} {ours}: not compared with the champion's {theirs} from {stamp}"
    tolerance = comparison.tolerances[metric]
    if step == 0:
        return f"{metric} {ours} equals the champion's {theirs} from {stamp}"
    worse, better = ("above", "below") if metric == "max_drawdown" else ("below", "above")
    where = worse if step > 0 else better
    amount = "" if math.isinf(step) else f"{_percent(step, tolerance)} "
    return f"{metric} {ours} is {amount}{where} the champion's {theirs} from {stamp}"


def champion_reasons(assessment: ModelAssessment) -> list[str]:
    """Why a BELOW_CHAMPION model is not APPROVED, in words, one per metric past its tolerance.

    E.g. ``fitness 0.85 is 5.6% below the champion's 0.90 from 20261126T163000000000Z (at most
    2%)``.
    """
    comparison = assessment.champion
    if comparison is None or Flag.BELOW_CHAMPION not in assessment.flags:
        return []
    return below_reasons(comparison, {m: assessment.metric(m) for m in comparison.below})


def below_reasons(comparison: ChampionComparison, values: Mapping[str, float | None]) -> list[str]:
    """Each metric past its tolerance, in words, from the model's ``values``."""
    return [
        f"{_words(metric, comparison, values.get(metric))} "
        f"(at most {comparison.tolerances[metric]:.{_digits(comparison.tolerances[metric])}%})"
        for metric in comparison.below
    ]


def _digits(fraction: float) -> int:
    """Decimals a tolerance needs as a percentage (2% -> 0, 2.5% -> 1)."""
    for digits in range(6):
        if math.isclose(round(fraction * 100, digits), fraction * 100, abs_tol=1e-9):
            return digits
    return 6


def comparison_lines(assessment: ModelAssessment) -> list[str]:
    """Every listed metric against the champion, in words (the report's section)."""
    comparison = assessment.champion
    if comparison is None:
        return []
    if comparison.timestamp is None:
        return [f"{assessment.symbol}: no champion yet, nothing to compare with"]
    lines = []
    for metric, tolerance in comparison.tolerances.items():
        verdict = "more than" if metric in comparison.below else "within"
        allowed = f"{tolerance:.{_digits(tolerance)}%}"
        words = _words(metric, comparison, assessment.metric(metric))
        lines.append(f"{assessment.symbol}: {words} ({verdict} the {allowed} allowed)")
    return lines
