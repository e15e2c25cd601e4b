"""Champion comparison data: the tolerance table and what one comparison found (pure).

Kept apart from the rules so that ``ModelGatingConfig`` and ``ModelAssessment`` can carry
them without an import cycle; ``gating.champion`` does the comparing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gating.errors import GatingConfigError, shown

__all__ = ["COMPARED_METRICS", "NO_TOLERANCES", "ChampionComparison", "tolerance_table"]

# The metrics a champion table may list, in the order records and reports list them.
COMPARED_METRICS = ("fitness", "profit_factor", "consistency", "max_drawdown")

NO_TOLERANCES: Mapping[str, float] = MappingProxyType({})


def tolerance_table(values: object, where: str = "champion") -> Mapping[str, float]:
    """Validate a champion table (metric -> largest relative step back); read-only result.

    Unknown metrics and negative or non-finite tolerances raise GatingConfigError naming
    the key (``champion.fitnes: unknown metric``); the result lists metrics in their order.
    """
    if not isinstance(values, Mapping):
        raise GatingConfigError(f"{where}: expected a table of metric = tolerance")
    if not values:
        return NO_TOLERANCES
    for key, value in values.items():
        if key not in COMPARED_METRICS:
            raise GatingConfigError(
                f"{where}.{key}: unknown metric (one of {', '.join(COMPARED_METRICS)})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GatingConfigError(f"{where}.{key}: {shown(value)} is not a number")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer past a float's range
            raise GatingConfigError(f"{where}.{key}: {shown(value)} is too large") from None
        if not finite:
            raise GatingConfigError(f"{where}.{key}: {shown(value)} is not finite")
        if value < 0:
            raise GatingConfigError(f"{where}.{key}: {value!r} must not be negative")
    return MappingProxyType({m: float(values[m]) for m in COMPARED_METRICS if m in values})


@dataclass(frozen=True, slots=True)
class ChampionComparison:
    """One model held against its symbol's champion at gating time.

    ``timestamp`` is None when the symbol had no champion (the model passes). ``step_back``
    is, per listed metric, how far the model falls behind the champion as a fraction of
    the champion's value (negative: ahead; None: a value is missing); ``below`` lists the
    metrics whose step back exceeds their tolerance.
    """

    timestamp: str | None
    run_id: str | None
    metrics: Mapping[str, float | None]
    tolerances: Mapping[str, float]
    step_back: Mapping[str, float | None] = field(default_factory=dict)
    below: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """The ``champion`` object of a model in model_assessments.json."""
        return {
            "timestamp": self.timestamp,
            "run_id": self.run_id,
            "metrics": dict(self.metrics) if self.timestamp is not None else None,
            "tolerances": dict(self.tolerances),
            "step_back": dict(self.step_back),
            "below": list(self.below),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ChampionComparison:
        """A comparison from its record (KeyError or TypeError if malformed)."""
        return cls(
            timestamp=record["timestamp"],
            run_id=record["run_id"],
            metrics=dict(record["metrics"] or {}),
            tolerances=dict(record["tolerances"]),
            step_back=dict(record["step_back"]),
            below=tuple(record["below"]),
        )
