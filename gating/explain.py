"""Explanations of a gating result: each metric against its bounds, and reasons in words."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from gating.champion import champion_reasons
from gating.rules import METRICS, Band, MetricCheck, ModelAssessment, metric_band

__all__ = ["explain_checks", "metric_text", "reasons", "reasons_of_checks", "reasons_of_values"]

_UPPER_BOUNDED = frozenset({"max_drawdown"})  # a metric that must stay at or below its bound


def _decimals(value: float) -> tuple[str, str] | None:
    """The whole and decimal digits of a value as given (its shortest exact form)."""
    text = repr(float(value))
    if "e" in text or "n" in text:
        return None
    whole, _, decimals = text.partition(".")
    return whole, decimals


def _part(value: float) -> tuple[str, str] | None:
    return None if math.isinf(value) else _decimals(value)


_bound_part = functools.lru_cache(maxsize=64)(_part)  # a config has eight bounds


def _shown(value: float, part: tuple[str, str] | None, digits: int) -> str:
    if part is not None:
        return f"{part[0]}.{part[1].ljust(digits, '0')}"
    return "inf" if math.isinf(value) else repr(float(value))


def _pair(value: float, bound: float) -> tuple[str, str]:
    """Value and bound as given, never rounded (0.085 is not 0.09), to the same decimals."""
    mine, theirs = _part(value), _bound_part(bound) if bound else _part(bound)  # -0.0 == 0.0
    digits = max(2, len(mine[1]) if mine else 0, len(theirs[1]) if theirs else 0)
    return _shown(value, mine, digits), _shown(bound, theirs, digits)


def metric_text(name: str, check: MetricCheck) -> str | None:
    """What keeps one metric out of the APPROVED band, in words; None when it is in it."""
    if check.band is Band.MISSING or check.value is None:
        return f"{name} missing"
    if check.band is Band.APPROVED:
        return None
    value, bound = _pair(check.value, check.approved)
    return f"{name} {value} {'>' if name in _UPPER_BOUNDED else '<'} {bound}"


def reasons_of_checks(checks: Mapping[str, MetricCheck]) -> list[str]:
    """The bounds that stand between a model and APPROVED, in metric order (none if APPROVED)."""
    found = (metric_text(name, checks[name]) for name in METRICS if name in checks)
    return [text for text in found if text is not None]


def reasons(assessment: ModelAssessment) -> list[str]:
    """reasons_of_checks for one assessment, then any step back from the champion.

    E.g. ``["consistency 0.80 < 0.85"]``, or ``["fitness 0.85 is 5.6% below the
    champion's 0.90 from 20261126T163000000000Z (at most 2%)"]``.
    """
    return reasons_of_checks(assessment.checks) + champion_reasons(assessment)


def reasons_of_values(
    values: Mapping[str, Any], bounds: Mapping[str, Sequence[float]]
) -> list[str]:
    """reasons_of_checks from each metric's value and its [APPROVED, DROP] bounds."""
    checks = {}
    for name in METRICS:
        approved, review = bounds[name]
        value = values.get(name)
        checks[name] = MetricCheck(
            value, approved, review, metric_band(name, value, approved, review)
        )
    return reasons_of_checks(checks)


def explain_checks(checks: Mapping[str, MetricCheck]) -> dict[str, dict[str, Any]]:
    """Each metric's value, APPROVED and DROP bounds and band, keyed by metric name.

    The DROP bound is the review threshold: past it (below, or above for max_drawdown)
    the model is dropped.
    """
    return {
        name: {
            "value": check.value,
            "approved_bound": check.approved,
            "drop_bound": check.review,
            "band": str(check.band),
        }
        for name, check in ((name, checks[name]) for name in METRICS if name in checks)
    }
