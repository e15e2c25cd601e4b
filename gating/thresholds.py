"""The gating thresholds: ModelGatingConfig, validated, with its ``[gating]`` table form, and
the largest summary read by default."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gating.comparison import NO_TOLERANCES, tolerance_table
from gating.errors import GatingConfigError, did_you_mean, shown

__all__ = ["DEFAULT_MAX_BYTES", "ModelGatingConfig", "to_float"]

DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # a larger summary is rejected unread


def to_float(value: float) -> float:
    """A JSON number as a float; an integer too large for one is infinite, like 1e400."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _no_tolerances() -> Mapping[str, float]:
    return NO_TOLERANCES


@dataclass(frozen=True, slots=True)
class ModelGatingConfig:
    """Thresholds for the three classes, the two overfitting checks and the champion table.

    ``champion_tolerances`` (``[gating.champion]``) maps metrics to the largest relative
    step back from the symbol's champion that still passes; empty compares nothing.
    """

    approved_min_fitness: float = 0.70
    approved_min_pf: float = 1.8
    approved_min_consistency: float = 0.85
    approved_max_drawdown: float = 0.08
    review_min_fitness: float = 0.50
    review_min_pf: float = 1.3
    review_min_consistency: float = 0.65
    review_max_drawdown: float = 0.15
    fitness_decline_threshold: float = 0.05
    fitness_oscillation_threshold: float = 0.10
    champion_tolerances: Mapping[str, float] = field(default_factory=_no_tolerances, hash=False)

    def __post_init__(self) -> None:
        for name in _CONFIG_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise GatingConfigError(f"{name}: {shown(value)} is not a number")
            number = to_float(value)
            if not math.isfinite(number):
                raise GatingConfigError(f"{name}: {shown(value)} is not finite")
            object.__setattr__(self, name, number)
        tolerances = tolerance_table(self.champion_tolerances)
        object.__setattr__(self, "champion_tolerances", tolerances)
        for name in (
            "approved_min_consistency",
            "review_min_consistency",
            "approved_max_drawdown",
            "review_max_drawdown",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise GatingConfigError(f"{name}: {getattr(self, name)!r} is not within [0, 1]")
        for name in (
            "approved_min_pf",
            "review_min_pf",
            "fitness_decline_threshold",
            "fitness_oscillation_threshold",
        ):
            if getattr(self, name) < 0:
                raise GatingConfigError(f"{name}: {getattr(self, name)!r} must not be negative")
        # Both values are named: either may be the one set (the other its default).
        for metric in ("fitness", "pf", "consistency"):
            review, approved = (getattr(self, f"{k}_min_{metric}") for k in ("review", "approved"))
            if review > approved:
                raise GatingConfigError(
                    f"review_min_{metric}: {review:g} must not be stricter than "
                    f"approved_min_{metric} ({approved:g})"
                )
        if self.review_max_drawdown < self.approved_max_drawdown:
            raise GatingConfigError(
                f"review_max_drawdown: {self.review_max_drawdown:g} must not be stricter than "
                f"approved_max_drawdown ({self.approved_max_drawdown:g})"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelGatingConfig:
        """Build a config from a ``[gating]`` table (its ``champion`` subtable included).

        Any key that is not a threshold is named in the error.
        """
        for key in values:
            if key not in _CONFIG_FIELDS and key != "champion":
                near = did_you_mean(str(key), [*_CONFIG_FIELDS, "champion"])
                raise GatingConfigError(f"{key}: not a gating threshold{near}")
        thresholds = {key: value for key, value in values.items() if key != "champion"}
        tolerances = tolerance_table(values.get("champion", NO_TOLERANCES))
        return cls(**thresholds, champion_tolerances=tolerances)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (for worker processes) as its table: the read-only champion table is not.
        return (ModelGatingConfig.from_mapping, (self.as_table(),))

    def as_dict(self) -> dict[str, float]:
        """The ten thresholds as a plain dict, in field order (no champion table)."""
        return {name: getattr(self, name) for name in _CONFIG_FIELDS}

    def as_table(self) -> dict[str, Any]:
        """The ``[gating]`` table: as_dict, plus ``champion`` when the table is not empty."""
        table: dict[str, Any] = self.as_dict()
        if self.champion_tolerances:
            table["champion"] = dict(self.champion_tolerances)
        return table

    def bounds(self, metric: str) -> tuple[float, float]:
        """The (approved, review) thresholds of one of the four metrics."""
        approved, review = _BOUND_FIELDS[metric]
        return getattr(self, approved), getattr(self, review)


_CONFIG_FIELDS = tuple(
    f.name for f in dataclasses.fields(ModelGatingConfig) if f.name != "champion_tolerances"
)
_BOUND_FIELDS = {
    "fitness": ("approved_min_fitness", "review_min_fitness"),
    "profit_factor": ("approved_min_pf", "review_min_pf"),
    "consistency": ("approved_min_consistency", "review_min_consistency"),
    "max_drawdown": ("approved_max_drawdown", "review_max_drawdown"),
}
