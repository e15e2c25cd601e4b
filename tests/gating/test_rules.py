"""Tests for gating.rules: classification, flags and checkpoint advice."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import (
    Classification,
    ModelGatingConfig,
    SummaryError,
    assess_model_quality,
)
from gating.rules import ModelMetrics, assess_model, checked_history

GOOD = {"fitness": 0.75, "pf": 1.9, "consistency": 0.88, "max_dd": 0.06}


def classify(**overrides: float | None) -> tuple[Classification, list[str], bool, int | None]:
    """Assess a model that is APPROVED on every metric but the overridden ones."""
    values = {**GOOD, **overrides}
    return assess_model_quality(
        values["fitness"], values["pf"], values["consistency"], values["max_dd"]
    )


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("fitness", 0.70, "APPROVED"),
        ("fitness", 0.6999, "REVIEW"),
        ("fitness", 0.50, "REVIEW"),
        ("fitness", 0.4999, "DROP"),
        ("pf", 1.8, "APPROVED"),
        ("pf", 1.7999, "REVIEW"),
        ("pf", 1.3, "REVIEW"),
        ("pf", 1.2999, "DROP"),
        ("pf", math.inf, "APPROVED"),
        ("consistency", 0.85, "APPROVED"),
        ("consistency", 0.8499, "REVIEW"),
        ("consistency", 0.65, "REVIEW"),
        ("consistency", 0.6499, "DROP"),
        ("max_dd", 0.08, "APPROVED"),
        ("max_dd", 0.0801, "REVIEW"),
        ("max_dd", 0.15, "REVIEW"),
        ("max_dd", 0.1501, "DROP"),
        ("max_dd", -0.06, "APPROVED"),
        ("max_dd", -0.2, "DROP"),
    ],
)
def test_threshold_boundaries(metric: str, value: float, expected: str) -> None:
    """Each threshold holds at its exact value and fails just past it."""
    assert classify(**{metric: value})[0] == expected


@pytest.mark.parametrize(
    ("metric", "value", "flag"),
    [
        ("fitness", 0.49, "LOW_FITNESS"),
        ("pf", 1.29, "LOW_PF"),
        ("consistency", 0.64, "LOW_CONSISTENCY"),
        ("max_dd", 0.16, "HIGH_DRAWDOWN"),
        ("fitness", None, "MISSING_METRIC"),
        ("pf", math.nan, "MISSING_METRIC"),
        ("consistency", None, "MISSING_METRIC"),
        ("max_dd", math.nan, "MISSING_METRIC"),
    ],
)
def test_drop_side_metric_raises_its_flag(metric: str, value: float | None, flag: str) -> None:
    """A metric on the DROP side, or missing, drops the model and raises exactly its flag."""
    classification, flags, _, _ = classify(**{metric: value})
    assert classification == "DROP"
    assert flags == [flag]


def test_review_band_raises_no_flag() -> None:
    """A metric in the REVIEW band is not a LOW_* flag."""
    assert classify(fitness=0.6, pf=1.5) == ("REVIEW", [], False, None)


def test_classification_equals_plain_strings() -> None:
    """The classification is a str enum equal to the plain string."""
    classification = classify()[0]
    assert classification == "APPROVED"
    assert isinstance(classification, str)


def test_flags_keep_their_order() -> None:
    """Flags come in the contract's order, each once."""
    _, flags, use_checkpoint, best_idx = assess_model_quality(
        0.3, 1.0, None, 0.5, fitness_history=[0.2, 0.9, 0.1, 0.9, 0.3]
    )
    assert flags == [
        "FITNESS_DECLINE",
        "UNSTABLE_TRAINING",
        "LOW_FITNESS",
        "LOW_PF",
        "HIGH_DRAWDOWN",
        "MISSING_METRIC",
    ]
    assert use_checkpoint is True
    assert best_idx == 1


@pytest.mark.parametrize(
    ("history", "final", "decline", "unstable", "best"),
    [
        pytest.param([0.1, 0.2, 0.3, 0.4, 0.5, 0.75], 0.75, False, False, 5, id="steady-climb"),
        pytest.param([0.5, 0.8, 0.5, 0.8, 0.5, 0.8], 0.8, False, True, 1, id="saw-tooth"),
        pytest.param([0.6, 0.8, 0.78, 0.75], 0.75, True, False, 1, id="declining"),
        pytest.param([0.70, 0.75, 0.78, 0.75], 0.75, False, False, 2, id="design-notes"),
        pytest.param([0.8, 0.76], 0.76, False, False, 0, id="decline-exactly-5pct"),
        pytest.param([0.8, 0.7599], 0.7599, True, False, 0, id="decline-past-5pct"),
        pytest.param([], 0.75, False, False, None, id="empty"),
        pytest.param([None, math.nan, 0.5], 0.5, False, False, 2, id="gaps-keep-indices"),
        pytest.param(
            [0.95, 0.2, 0.95, 0.2, 0.95, 0.5, math.inf], 0.5, True, True, 0, id="diverged-inf"
        ),
        pytest.param([0.95, 0.2, 0.95, 0.5, -math.inf], 0.5, True, True, 0, id="diverged-minus"),
        pytest.param([10**400, 0.9, 0.2, 0.9], 0.9, False, True, 1, id="integer-past-a-float"),
        pytest.param([0.0, 0.0], -0.1, True, False, 0, id="zero-peak"),
        pytest.param([-0.5, -0.2, -0.25], -0.25, True, False, 1, id="negative-peak"),
        pytest.param([1.0, 1.05, 1.0, 1.05], 1.05, False, False, 1, id="small-wiggle"),
        pytest.param([0.5, 1.0, 0.9], 0.9, True, False, 1, id="swing-exactly-at-threshold"),
        pytest.param([0.5, 1.0, 0.89], 0.89, True, True, 1, id="swing-past-threshold"),
    ],
)
def test_history_flags(
    history: list[float | None], final: float, decline: bool, unstable: bool, best: int | None
) -> None:
    """FITNESS_DECLINE, UNSTABLE_TRAINING and best_idx follow the history rules."""
    _, flags, use_checkpoint, best_idx = assess_model_quality(
        final, 1.9, 0.88, 0.06, fitness_history=history
    )
    assert ("FITNESS_DECLINE" in flags) is decline
    assert use_checkpoint is decline
    assert ("UNSTABLE_TRAINING" in flags) is unstable
    assert best_idx == best


@pytest.mark.parametrize(
    ("history", "match"),
    [
        (["x"], r"fitness_history\[0\]: 'x' is not a number"),
        ([0.5, True], r"fitness_history\[1\]: True is not a number"),
        ("0.9", "fitness_history: expected an array of numbers"),
        ({0: 0.9}, "fitness_history: expected an array of numbers"),
        (5, "fitness_history: expected an array of numbers, got 5"),
    ],
)
def test_a_history_of_other_things_is_an_error(history: object, match: str) -> None:
    """A history that is not a sequence of numbers raises SummaryError naming the point."""
    with pytest.raises(SummaryError, match=match):
        assess_model_quality(0.75, 1.9, 0.88, 0.06, history)  # type: ignore[arg-type]


def test_a_history_of_none_is_no_history() -> None:
    """``fitness_history=None`` gates as no history, as a summary's null history does (it
    was a bare TypeError)."""
    assert assess_model_quality(0.75, 1.9, 0.88, 0.06, None) == assess_model_quality(
        0.75, 1.9, 0.88, 0.06
    )


def test_checkpoint_step_uses_validation_interval() -> None:
    """The recommended step is (best_idx + 1) * validation_interval."""
    metrics = ModelMetrics("AAPL", 0.7, 2.0, 0.9, 0.05, (0.6, 0.9, 0.7))
    assert assess_model(metrics, validation_interval=10_000).checkpoint_step == 20_000
    assert assess_model(metrics).checkpoint_step is None


def test_custom_config_is_used() -> None:
    """A stricter config turns an APPROVED model into REVIEW."""
    strict = ModelGatingConfig(approved_min_fitness=0.80, approved_min_pf=2.0)
    result = assess_model_quality(0.75, 1.9, 0.88, 0.06, [0.70, 0.75, 0.78, 0.75], strict)
    assert result[0] == "REVIEW"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"final_consistency": 85}, "consistency: 85 is not a fraction"),
        ({"final_consistency": -0.1}, "consistency"),
        ({"final_max_dd": 8}, "max_drawdown: 8 is not a fraction"),
        ({"final_max_dd": -1.5}, "max_drawdown"),
        ({"final_pf": -0.5}, "profit_factor: -0.5 is negative"),
        ({"final_fitness": math.inf}, "fitness: inf is not finite"),
        ({"final_fitness": "0.7"}, "fitness: '0.7' is not a number"),
    ],
)
def test_out_of_range_metrics_are_errors(kwargs: dict[str, object], match: str) -> None:
    """Fractions above 1, negative profit factors and non-numbers raise a ValueError."""
    values: dict[str, object] = {
        "final_fitness": 0.75,
        "final_pf": 1.9,
        "final_consistency": 0.88,
        "final_max_dd": 0.06,
        **kwargs,
    }
    with pytest.raises(SummaryError, match=match):
        assess_model_quality(**values)  # type: ignore[arg-type]


_RANK = {"DROP": 0, "REVIEW": 1, "APPROVED": 2}
_fraction = st.floats(0.0, 1.0)
_metrics = st.fixed_dictionaries(
    {
        "fitness": st.one_of(st.none(), st.floats(-2.0, 2.0)),
        "pf": st.one_of(st.none(), st.floats(0.0, 5.0), st.just(math.inf)),
        "consistency": st.one_of(st.none(), _fraction),
        "max_dd": st.one_of(st.none(), _fraction),
    }
)


@given(
    metrics=_metrics,
    metric=st.sampled_from(["fitness", "pf", "consistency", "max_dd"]),
    better=_fraction,
)
def test_improving_one_metric_never_worsens_classification(
    metrics: dict[str, float | None], metric: str, better: float
) -> None:
    """Classification is monotone in each metric (a missing value is the worst value)."""
    before = metrics[metric]
    if metric == "max_dd":
        improved = better * (before if before is not None else 1.0)
    elif metric == "consistency":
        improved = (before or 0.0) + better * (1.0 - (before or 0.0))
    elif metric == "pf":
        improved = (before if before is not None else 0.0) + better
    else:
        improved = (before if before is not None else -2.0) + better
    low = classify(**metrics)[0]
    high = classify(**{**metrics, metric: improved})[0]
    assert _RANK[high] >= _RANK[low]


@given(st.lists(st.one_of(st.none(), st.floats(), st.integers(-(10**400), 10**400))))
def test_a_checked_history_keeps_finite_numbers_and_gaps_the_rest(points: list[object]) -> None:
    """Whichever path it takes (all floats, floats and gaps, anything): each finite number
    as a float, each gap, NaN or infinity (or integer past a float) as None."""

    def expected(point: object) -> float | None:
        if point is None:
            return None
        try:
            number = float(point)  # type: ignore[arg-type]
        except OverflowError:
            return None
        return number if math.isfinite(number) else None

    assert checked_history(points) == tuple(map(expected, points))
