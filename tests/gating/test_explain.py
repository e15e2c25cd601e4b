"""Tests for gating.explain: each metric against its bounds, and reasons in words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import Classification, ModelMetrics, assess_model, explain_checks, reasons
from gating.explain import reasons_of_values
from gating.rules import ModelAssessment


def assessed(
    fitness: float | None = 0.75,
    pf: float | None = 1.9,
    consistency: float | None = 0.88,
    max_dd: float | None = 0.06,
) -> ModelAssessment:
    """One model gated under the default thresholds."""
    return assess_model(ModelMetrics("AAPL", fitness, pf, consistency, max_dd))


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({}, []),
        ({"consistency": 0.85}, []),
        ({"consistency": 0.80}, ["consistency 0.80 < 0.85"]),
        ({"consistency": 0.8499}, ["consistency 0.8499 < 0.8500"]),
        ({"max_dd": 0.08}, []),
        ({"max_dd": 0.09}, ["max_drawdown 0.09 > 0.08"]),
        ({"max_dd": -0.09}, ["max_drawdown 0.09 > 0.08"]),
        ({"max_dd": 0.0800001}, ["max_drawdown 0.0800001 > 0.0800000"]),
        ({"max_dd": 0.085}, ["max_drawdown 0.085 > 0.080"]),  # never rounded up to 0.09
        ({"consistency": 0.845}, ["consistency 0.845 < 0.850"]),
        ({"pf": 1.7951}, ["profit_factor 1.7951 < 1.8000"]),
        ({"fitness": 0.70}, []),
        ({"fitness": 0.3}, ["fitness 0.30 < 0.70"]),
        ({"pf": math.inf}, []),
        ({"pf": 1.79}, ["profit_factor 1.79 < 1.80"]),
        ({"fitness": None}, ["fitness missing"]),
        ({"fitness": math.nan, "max_dd": 0.2}, ["fitness missing", "max_drawdown 0.20 > 0.08"]),
        (
            {"fitness": 0.6, "pf": 1.5, "consistency": 0.7, "max_dd": 0.1},
            [
                "fitness 0.60 < 0.70",
                "profit_factor 1.50 < 1.80",
                "consistency 0.70 < 0.85",
                "max_drawdown 0.10 > 0.08",
            ],
        ),
    ],
)
def test_reasons_at_the_bounds(metrics: dict[str, float | None], expected: list[str]) -> None:
    """A value on its APPROVED bound passes; past it the reason names value and bound."""
    assert reasons(assessed(**metrics)) == expected


def test_explanation_gives_value_both_bounds_and_band() -> None:
    """Each metric carries its value, its APPROVED and DROP bounds and its band."""
    explained = explain_checks(assessed(max_dd=0.2).checks)
    assert list(explained) == ["fitness", "profit_factor", "consistency", "max_drawdown"]
    assert explained["max_drawdown"] == {
        "value": 0.2,
        "approved_bound": 0.08,
        "drop_bound": 0.15,
        "band": "drop",
    }
    assert explained["fitness"]["band"] == "approved"


fractions = st.one_of(st.none(), st.floats(0, 1))


@given(
    fitness=st.one_of(st.none(), st.floats(-2, 2)),
    pf=st.one_of(st.none(), st.floats(0, 5), st.just(math.inf)),
    consistency=fractions,
    max_dd=fractions,
)
def test_reasons_are_empty_exactly_for_approved(
    fitness: float | None, pf: float | None, consistency: float | None, max_dd: float | None
) -> None:
    """An APPROVED model has no reason; any other has one per metric outside its band."""
    a = assessed(fitness, pf, consistency, max_dd)
    found = reasons(a)
    assert (found == []) == (a.classification is Classification.APPROVED)
    outside = [name for name, check in a.checks.items() if check.band != "approved"]
    assert [text.split()[0] for text in found] == outside
    for text in found:
        name, *rest = text.split()
        if rest != ["missing"]:  # the value as shown really is on the wrong side of the bound
            value, operator, bound = float(rest[0]), rest[1], float(rest[2])
            assert operator == (">" if name == "max_drawdown" else "<")
            assert value > bound if operator == ">" else value < bound


@given(
    fitness=st.one_of(st.none(), st.floats(-2, 2)),
    pf=st.one_of(st.none(), st.floats(0, 5), st.just(math.inf)),
    consistency=fractions,
    max_dd=fractions,
)
def test_reasons_from_values_and_bounds_are_the_assessments(
    fitness: float | None, pf: float | None, consistency: float | None, max_dd: float | None
) -> None:
    """What the catalog keeps (values, [APPROVED, DROP] bounds) gives the same reasons."""
    a = assessed(fitness, pf, consistency, max_dd)
    values = {name: check.value for name, check in a.checks.items()}
    bounds = {name: [check.approved, check.review] for name, check in a.checks.items()}
    assert reasons_of_values(values, bounds) == reasons(a)
