"""The gating rules: classification, overfitting flags, checkpoint advice (thresholds:
``gating.thresholds``)."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

from gating.comparison import ChampionComparison
from gating.errors import SummaryError, shown
from gating.thresholds import ModelGatingConfig, to_float

__all__ = [
    "METRICS",
    "Band",
    "Classification",
    "Flag",
    "MetricCheck",
    "ModelAssessment",
    "ModelGatingConfig",
    "ModelMetrics",
    "assess_model",
    "assess_model_quality",
    "checked_history",
    "checked_metric",
    "classifier",
    "classify",
    "exceeds",
    "metric_band",
    "plain_floats",
    "to_float",
]

# The four gated metrics, in the order reports and records list them.
METRICS = ("fitness", "profit_factor", "consistency", "max_drawdown")


class Classification(StrEnum):
    """What may be done with a model: deploy, look at it, or throw it away."""

    APPROVED = "APPROVED"
    REVIEW = "REVIEW"
    DROP = "DROP"


class Flag(StrEnum):
    """Warnings about a model, listed in this order, each at most once."""

    FITNESS_DECLINE = "FITNESS_DECLINE"
    UNSTABLE_TRAINING = "UNSTABLE_TRAINING"
    LOW_FITNESS = "LOW_FITNESS"
    LOW_PF = "LOW_PF"
    LOW_CONSISTENCY = "LOW_CONSISTENCY"
    HIGH_DRAWDOWN = "HIGH_DRAWDOWN"
    MISSING_METRIC = "MISSING_METRIC"
    BELOW_CHAMPION = "BELOW_CHAMPION"


class Band(StrEnum):
    """Where one metric falls against its two thresholds."""

    APPROVED = "approved"
    REVIEW = "review"
    DROP = "drop"
    MISSING = "missing"


_LOW_FLAG = {
    "fitness": Flag.LOW_FITNESS,
    "profit_factor": Flag.LOW_PF,
    "consistency": Flag.LOW_CONSISTENCY,
    "max_drawdown": Flag.HIGH_DRAWDOWN,
}


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """One model's final metrics and validation history as a summary reports them."""

    symbol: str
    fitness: float | None
    profit_factor: float | None
    consistency: float | None
    max_drawdown: float | None
    fitness_history: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricCheck:
    """One metric's value, the thresholds it was held against and where it fell."""

    value: float | None
    approved: float
    review: float
    band: Band


@dataclass(frozen=True, slots=True)
class ModelAssessment:
    """The full gating decision for one model."""

    symbol: str
    classification: Classification
    flags: tuple[Flag, ...]
    use_checkpoint: bool
    best_idx: int | None
    checkpoint_step: int | None
    checks: Mapping[str, MetricCheck]
    fitness_history: tuple[float | None, ...]
    champion: ChampionComparison | None = None  # set when a champion table was applied

    def metric(self, name: str) -> float | None:
        """The value of one of the four metrics (None when missing)."""
        return self.checks[name].value


def checked_metric(name: str, value: object, where: str | None = None) -> float | None:
    """Validate one metric value; None and NaN mean missing, drawdown sign is dropped.

    ``where`` is the field path used in the error message (default: ``name``).
    """
    where = where or name
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SummaryError(f"{where}: {shown(value)} is not a number")
    number = to_float(value)
    if math.isnan(number):
        return None
    if name == "profit_factor":
        if number < 0:
            raise SummaryError(f"{where}: {shown(value)} is negative")
    elif name == "consistency":
        if not 0.0 <= number <= 1.0:
            raise SummaryError(f"{where}: {shown(value)} is not a fraction in [0, 1]")
    elif name == "max_drawdown":
        number = abs(number)
        if number > 1.0:
            raise SummaryError(f"{where}: {shown(value)} is not a fraction in [0, 1]")
    elif not math.isfinite(number):
        beyond = isinstance(value, int)  # an integer has no infinity: it is past a float's
        said = "is too large (beyond ±1.8e308)" if beyond else "is not finite"
        raise SummaryError(f"{where}: {shown(value)} {said}")
    return number


def _band(metric: str, value: float | None, approved: float, review: float) -> Band:
    if value is None:
        return Band.MISSING
    if metric == "max_drawdown":
        if value <= approved:
            return Band.APPROVED
        return Band.REVIEW if value <= review else Band.DROP
    if value >= approved:
        return Band.APPROVED
    return Band.REVIEW if value >= review else Band.DROP


def metric_band(metric: str, value: float | None, approved: float, review: float) -> Band:
    """Where one metric's value falls against its APPROVED and review (DROP) bounds."""
    return _band(metric, value, approved, review)


def plain_floats(values: Sequence[object]) -> TypeGuard[Sequence[float]]:
    """Every value a finite float (the usual history): a NaN or an infinity makes the sum
    NaN or infinite (so may a sum past 1.8e308: the slow path then looks at each)."""
    return set(map(type, values)) <= {float} and math.isfinite(sum(values))  # type: ignore[arg-type]


_FLOAT_OR_NONE = frozenset({float, type(None)})


def _floats_or_gaps(values: tuple[object, ...]) -> TypeGuard[tuple[float | None, ...]]:
    """Every value a finite float or None (a record's history with gaps), as plain_floats."""
    return set(map(type, values)) <= _FLOAT_OR_NONE and math.isfinite(
        sum(filter(None, values))  # type: ignore[arg-type]
    )


def checked_history(
    values: Sequence[object], where: str = "fitness_history"
) -> tuple[float | None, ...]:
    """Validate a fitness history: each point a number or None; a NaN or an infinity
    (a diverged step: no measurement to hold a peak or a swing against) becomes None."""
    if isinstance(values, str | bytes | bytearray | Mapping):
        raise SummaryError(f"{where}: expected an array of numbers, got {shown(values)}")
    try:
        points_given = iter(values)
    except TypeError:  # not iterable: 5, say
        raise SummaryError(f"{where}: expected an array of numbers, got {shown(values)}") from None
    values = tuple(points_given)  # an iterator is read once
    if plain_floats(values):
        return tuple(values)  # the usual case (the same tuple, not a copy)
    if _floats_or_gaps(values):
        return values  # finite floats and gaps (a record's history, read back)
    points: list[float | None] = []
    for index, point in enumerate(values):
        if point is not None and (isinstance(point, bool) or not isinstance(point, int | float)):
            raise SummaryError(f"{where}[{index}]: {shown(point)} is not a number")
        number = None if point is None else to_float(point)
        points.append(number if number is not None and math.isfinite(number) else None)
    return tuple(points)


def _valid_history(history: Sequence[float | None]) -> tuple[list[int], list[float]]:
    """Positions and values of the points of a checked history: None is skipped."""
    usable = [(i, v) for i, v in enumerate(history) if v is not None]
    return [i for i, _ in usable], [v for _, v in usable]


def exceeds(value: float, threshold: float) -> bool:
    """``value > threshold``, but a value equal up to float rounding does not exceed it."""
    return value > threshold and not math.isclose(value, threshold, rel_tol=1e-9)


def _declined(peak: float, final: float | None, threshold: float) -> bool:
    if final is None:
        return False
    drop = peak - final if peak == 0 else (peak - final) / abs(peak)
    return exceeds(drop, threshold)


def _unstable(values: Sequence[float], threshold: float) -> bool:
    if len(values) < 3:
        return False
    limit = threshold * max(map(abs, values))
    moves = list(map(operator.sub, values[1:], values[:-1]))  # after - before
    return any(
        first * second < 0 and exceeds(abs(first), limit) and exceeds(abs(second), limit)
        for first, second in itertools.pairwise(moves)
    )


def _class_of(bands: set[Band]) -> Classification:
    if Band.DROP in bands or Band.MISSING in bands:
        return Classification.DROP
    if bands == {Band.APPROVED}:
        return Classification.APPROVED
    return Classification.REVIEW


def classify(metrics: ModelMetrics, config: ModelGatingConfig) -> Classification:
    """The classification alone of validated metrics: assess_model's, without the rest."""
    return classifier(config)(metrics)


def classifier(config: ModelGatingConfig) -> Callable[[ModelMetrics], Classification]:
    """classify under one config, its bounds looked up once (for many models)."""
    bounds = [(name, *config.bounds(name)) for name in METRICS]

    def classify_one(metrics: ModelMetrics) -> Classification:
        return _class_of(
            {
                metric_band(n, getattr(metrics, n), approved, review)
                for n, approved, review in bounds
            }
        )

    return classify_one


def assess_model(
    metrics: ModelMetrics,
    config: ModelGatingConfig | None = None,
    validation_interval: int | None = None,
    *,
    validated: bool = False,
) -> ModelAssessment:
    """Gate one model: classification, flags, checkpoint advice and each metric's check.

    ``validated=True`` trusts metrics that parse_summary already checked.
    """
    config = config or ModelGatingConfig()
    checks: dict[str, MetricCheck] = {}
    for name in METRICS:
        value = getattr(metrics, name)
        if not validated:
            value = checked_metric(name, value)
        approved, review = config.bounds(name)
        checks[name] = MetricCheck(value, approved, review, _band(name, value, approved, review))
    bands = {check.band for check in checks.values()}
    classification = _class_of(bands)

    history = metrics.fitness_history if validated else checked_history(metrics.fitness_history)
    if None not in history:  # finite floats: no gap
        positions: Sequence[int] = range(len(history))
        points: Sequence[float] = history  # type: ignore[assignment]
    else:
        positions, points = _valid_history(history)
    flags: list[Flag] = []
    best_idx: int | None = None
    if points:
        peak = max(points)
        best_idx = positions[points.index(peak)]  # the first maximum, at its original place
        if _declined(peak, checks["fitness"].value, config.fitness_decline_threshold):
            flags.append(Flag.FITNESS_DECLINE)
        if _unstable(points, config.fitness_oscillation_threshold):
            flags.append(Flag.UNSTABLE_TRAINING)
    flags.extend(_LOW_FLAG[name] for name, check in checks.items() if check.band is Band.DROP)
    if Band.MISSING in bands:
        flags.append(Flag.MISSING_METRIC)

    use_checkpoint = Flag.FITNESS_DECLINE in flags
    step = None
    if best_idx is not None and validation_interval is not None:
        step = (best_idx + 1) * validation_interval
    return ModelAssessment(
        symbol=metrics.symbol,
        classification=classification,
        flags=tuple(flags),
        use_checkpoint=use_checkpoint,
        best_idx=best_idx,
        checkpoint_step=step,
        checks=checks,
        fitness_history=tuple(history),
    )


def assess_model_quality(  # noqa: PLR0917 - the contract's signature
    final_fitness: float | None,
    final_pf: float | None,
    final_consistency: float | None,
    final_max_dd: float | None,
    fitness_history: Sequence[float | None] | None = (),
    config: ModelGatingConfig | None = None,
) -> tuple[Classification, list[str], bool, int | None]:
    """Gate one model from its four final metrics and fitness history (None: none, as a
    summary's null history is).

    Returns (classification, flags, use_checkpoint, best_idx).
    """
    metrics = ModelMetrics(
        symbol="",
        fitness=final_fitness,
        profit_factor=final_pf,
        consistency=final_consistency,
        max_drawdown=final_max_dd,
        fitness_history=checked_history(() if fitness_history is None else fitness_history),
    )
    result = assess_model(metrics, config)
    return (
        result.classification,
        [str(flag) for flag in result.flags],
        result.use_checkpoint,
        result.best_idx,
    )
