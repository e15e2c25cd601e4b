"""Tests for gating.champion: step backs at their boundaries, the comparison and its words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import Classification, Flag, GatingConfigError, ModelGatingConfig, assess_model_quality
from gating.champion import (
    ChampionMetrics,
    champion_reasons,
    compare,
    compare_models,
    comparison_lines,
    step_back,
)
from gating.comparison import COMPARED_METRICS, ChampionComparison
from gating.explain import reasons
from gating.rules import METRICS, ModelAssessment, ModelMetrics, assess_model

CHAMPION_TS = "20261126T163000123456Z"
CHAMPION = {"fitness": 0.90, "profit_factor": 2.5, "consistency": 0.90, "max_drawdown": 0.05}
GOOD = {"fitness": 0.90, "profit_factor": 2.0, "consistency": 0.90, "max_drawdown": 0.05}


def gated(**overrides: float | None) -> ModelAssessment:
    """An assessment of AAPL under the default thresholds, GOOD but for the overrides."""
    values = {**GOOD, **overrides}
    return assess_model(ModelMetrics("AAPL", **values))  # type: ignore[arg-type]


def champion(**overrides: float | None) -> ChampionMetrics:
    """AAPL's champion, CHAMPION but for the overrides."""
    return ChampionMetrics(CHAMPION_TS, "champ", {**CHAMPION, **overrides})


def test_metric_orders_agree() -> None:
    """The champion table lists the same metrics, in the same order, as the rules."""
    assert COMPARED_METRICS == METRICS


@pytest.mark.parametrize(
    ("metric", "value", "champion_value", "expected"),
    [
        ("fitness", 0.85, 0.90, (0.90 - 0.85) / 0.90),
        ("fitness", 0.95, 0.90, (0.90 - 0.95) / 0.90),
        ("fitness", -0.2, -0.1, (-0.1 - -0.2) / 0.1),  # |champion| keeps the sign right
        ("profit_factor", 1.8, 2.0, 0.1),
        ("consistency", 0.855, 0.90, 0.05),
        ("max_drawdown", 0.055, 0.05, 0.1),
        ("max_drawdown", 0.04, 0.05, -0.2),
        ("fitness", -0.05, 0.0, 0.05),  # champion 0: the plain difference
        ("max_drawdown", 0.03, 0.0, 0.03),
        ("max_drawdown", 0.0, 0.0, 0.0),
        ("profit_factor", math.inf, math.inf, 0.0),
        ("profit_factor", 3.0, math.inf, 1.0),  # finite against infinite: all of it
        ("profit_factor", math.inf, 2.0, -math.inf),  # infinite against finite: ahead
        ("fitness", None, 0.9, None),
        ("fitness", 0.9, None, None),
    ],
)
def test_step_back(
    metric: str, value: float | None, champion_value: float | None, expected: float | None
) -> None:
    """The relative step back of each metric, including a zero and an infinite champion."""
    found = step_back(metric, value, champion_value)
    if expected is None or math.isinf(expected):
        assert found == expected
    else:
        assert found == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "tolerance", "value", "expected"),
    [
        ("fitness", 0.02, 0.882, "APPROVED"),  # exactly 2% below: passes
        ("fitness", 0.02, 0.8819, "REVIEW"),
        ("fitness", 0.02, 0.95, "APPROVED"),
        ("fitness", 0.0, 0.90, "APPROVED"),  # tolerance 0: equal passes
        ("fitness", 0.0, 0.8999, "REVIEW"),
        ("profit_factor", 0.10, 2.25, "APPROVED"),
        ("profit_factor", 0.10, 2.2499, "REVIEW"),
        ("consistency", 0.05, 0.855, "APPROVED"),
        ("consistency", 0.05, 0.8549, "REVIEW"),
        ("max_drawdown", 0.10, 0.055, "APPROVED"),  # exactly 10% above: passes
        ("max_drawdown", 0.10, 0.0551, "REVIEW"),
        ("max_drawdown", 0.10, 0.01, "APPROVED"),
    ],
)
def test_tolerance_boundaries(metric: str, tolerance: float, value: float, expected: str) -> None:
    """A step back exactly at the tolerance passes; just past it makes an APPROVED model REVIEW."""
    adjusted, comparison = compare(gated(**{metric: value}), champion(), {metric: tolerance})
    assert adjusted.classification == expected
    assert comparison is not None
    assert (Flag.BELOW_CHAMPION in adjusted.flags) == (expected == "REVIEW")
    assert comparison.below == ((metric,) if expected == "REVIEW" else ())


@pytest.mark.parametrize(
    ("value", "champion_pf", "tolerance", "expected"),
    [
        (math.inf, math.inf, 0.0, "APPROVED"),
        (3.0, math.inf, 0.5, "REVIEW"),
        (3.0, math.inf, 1.0, "APPROVED"),  # a step back of 1 is within a tolerance of 1
        (math.inf, 2.0, 0.0, "APPROVED"),
    ],
)
def test_infinite_profit_factor(
    value: float, champion_pf: float, tolerance: float, expected: str
) -> None:
    """An infinite profit factor on either side compares sensibly."""
    adjusted, _ = compare(
        gated(profit_factor=value),
        champion(profit_factor=champion_pf),
        {"profit_factor": tolerance},
    )
    assert adjusted.classification == expected


def test_a_zero_champion_fitness_uses_the_plain_difference() -> None:
    """With a champion fitness of 0, 0.05 below it is a step back of 0.05."""
    config = ModelGatingConfig(approved_min_fitness=-1.0, review_min_fitness=-1.0)
    model = assess_model(ModelMetrics("AAPL", -0.05, 2.0, 0.9, 0.05), config)
    assert compare(model, champion(fitness=0.0), {"fitness": 0.05})[0].classification == "APPROVED"
    assert compare(model, champion(fitness=0.0), {"fitness": 0.04})[0].classification == "REVIEW"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"consistency": 0.80}, "REVIEW"),  # already REVIEW: no flag, the class stays
        ({"consistency": 0.50}, "DROP"),
        ({"fitness": None}, "DROP"),
    ],
)
def test_only_an_approved_model_changes_class(overrides: dict[str, float], expected: str) -> None:
    """A REVIEW or DROP model keeps its class and flags; the comparison is still recorded."""
    model = gated(fitness=0.5001, **overrides) if "fitness" not in overrides else gated(**overrides)
    adjusted, comparison = compare(model, champion(), {"fitness": 0.02, "consistency": 0.0})
    assert adjusted.classification == expected
    assert adjusted.flags == model.flags
    assert comparison is not None
    assert adjusted.champion == comparison


def test_no_champion_passes_and_says_so() -> None:
    """The first model of a symbol has no champion: it passes, the record says none."""
    adjusted, comparison = compare(gated(fitness=0.71), None, {"fitness": 0.0})
    assert adjusted.classification == "APPROVED"
    assert comparison == ChampionComparison(None, None, {}, {"fitness": 0.0})
    assert comparison_lines(adjusted) == ["AAPL: no champion yet, nothing to compare with"]


def test_a_missing_champion_metric_is_not_compared() -> None:
    """A champion approved by hand with a missing metric cannot hold that metric against anyone."""
    adjusted, comparison = compare(gated(fitness=0.71), champion(fitness=None), {"fitness": 0.0})
    assert adjusted.classification == "APPROVED"
    assert comparison is not None
    assert comparison.step_back == {"fitness": None}


def test_reasons_in_words() -> None:
    """The reason names the metric, the step back, the champion's value, its run and the limit."""
    adjusted, _ = compare(gated(fitness=0.85), champion(), {"fitness": 0.02})
    expected = (
        "fitness 0.85 is 5.6% below the champion's 0.90 from 20261126T163000123456Z (at most 2%)"
    )
    assert champion_reasons(adjusted) == [expected]
    assert reasons(adjusted) == [expected]
    drawdown, _ = compare(gated(max_drawdown=0.06), champion(), {"max_drawdown": 0.1})
    assert champion_reasons(drawdown) == [
        "max_drawdown 0.06 is 20.0% above the champion's 0.05 from 20261126T163000123456Z "
        "(at most 10%)"
    ]


def test_comparison_lines_cover_every_listed_metric() -> None:
    """The report's lines say, per listed metric, whether the model is within its tolerance."""
    adjusted, _ = compare(gated(fitness=0.95), champion(), {"fitness": 0.02, "consistency": 0.025})
    assert comparison_lines(adjusted) == [
        "AAPL: fitness 0.95 is 5.6% above the champion's 0.90 from 20261126T163000123456Z "
        "(within the 2% allowed)",
        "AAPL: consistency 0.90 equals the champion's 0.90 from 20261126T163000123456Z "
        "(within the 2.5% allowed)",
    ]


def test_compare_models_crowns_each_approved_model_in_order() -> None:
    """A run's APPROVED model is the champion for the next run; a REVIEW one is not."""
    champions: dict[str, ChampionMetrics | None] = {"AAPL": None}
    first = compare_models([gated(fitness=0.90)], champions, {"fitness": 0.02}, "T1", "a")
    assert first[0].classification == "APPROVED"
    second = compare_models([gated(fitness=0.85)], champions, {"fitness": 0.02}, "T2", "b")
    assert second[0].classification == "REVIEW"
    assert champions["AAPL"] == ChampionMetrics("T1", "a", dict(GOOD))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"fitnes": 0.1}, "champion.fitnes: unknown metric"),
        ({"fitness": -0.01}, "champion.fitness: -0.01 must not be negative"),
        ({"fitness": math.inf}, "champion.fitness: inf is not finite"),
        ({"fitness": "2%"}, "champion.fitness: '2%' is not a number"),
        ({"fitness": True}, "champion.fitness: True is not a number"),
    ],
)
def test_bad_tables_are_config_errors(table: dict[str, object], message: str) -> None:
    """Unknown metrics and negative, infinite or non-number tolerances name the key."""
    with pytest.raises(GatingConfigError, match=message.replace(".", r"\.")):
        ModelGatingConfig.from_mapping({"champion": table})


def test_the_table_is_part_of_the_config() -> None:
    """The tolerances travel with the thresholds: equal configs, read-only, in metric order."""
    config = ModelGatingConfig.from_mapping({"champion": {"max_drawdown": 0.1, "fitness": 0.02}})
    assert config == ModelGatingConfig(champion_tolerances={"fitness": 0.02, "max_drawdown": 0.1})
    assert list(config.champion_tolerances) == ["fitness", "max_drawdown"]
    assert config.as_table()["champion"] == {"fitness": 0.02, "max_drawdown": 0.1}
    assert "champion" not in ModelGatingConfig().as_table()
    with pytest.raises(TypeError):
        config.champion_tolerances["fitness"] = 0.5  # type: ignore[index]
    assert hash(config) == hash(ModelGatingConfig())  # the table is left out of the hash


metric = st.one_of(st.none(), st.floats(-2, 2), st.just(math.nan))
fraction = st.one_of(st.none(), st.floats(0, 1))
pf = st.one_of(st.none(), st.floats(0, 10), st.just(math.inf))
history = st.lists(st.one_of(st.none(), st.floats(-2, 2)), max_size=12)
champion_metrics = st.builds(
    lambda f, p, c, d: ChampionMetrics(CHAMPION_TS, None, {
        "fitness": f, "profit_factor": p, "consistency": c, "max_drawdown": d}),
    metric, pf, fraction, fraction,
)  # fmt: skip


@given(metric, pf, fraction, fraction, history, st.one_of(st.none(), champion_metrics))
def test_an_empty_table_is_section_2_exactly(
    fitness: float | None,
    profit_factor: float | None,
    consistency: float | None,
    max_drawdown: float | None,
    points: list[float | None],
    rival: ChampionMetrics | None,
) -> None:
    """With no tolerances, any champion changes nothing: the result is assess_model_quality's."""
    model = assess_model(
        ModelMetrics("AAPL", fitness, profit_factor, consistency, max_drawdown, tuple(points))
    )
    adjusted, comparison = compare(model, rival, {})
    assert comparison is None
    assert adjusted is model
    expected = assess_model_quality(fitness, profit_factor, consistency, max_drawdown, points)
    assert (adjusted.classification, [str(f) for f in adjusted.flags]) == expected[:2]
    assert (adjusted.use_checkpoint, adjusted.best_idx) == expected[2:]


tolerance_tables = st.dictionaries(st.sampled_from(COMPARED_METRICS), st.floats(0, 2), min_size=1)


@given(metric, pf, fraction, fraction, champion_metrics, tolerance_tables)
def test_a_table_only_ever_turns_approved_into_review(
    fitness: float | None,
    profit_factor: float | None,
    consistency: float | None,
    max_drawdown: float | None,
    rival: ChampionMetrics,
    tolerances: dict[str, float],
) -> None:
    """The comparison moves APPROVED to REVIEW with BELOW_CHAMPION last, and nothing else."""
    model = assess_model(ModelMetrics("AAPL", fitness, profit_factor, consistency, max_drawdown))
    adjusted, comparison = compare(model, rival, tolerances)
    assert comparison is not None
    demoted = model.classification is Classification.APPROVED and bool(comparison.below)
    expected = Classification.REVIEW if demoted else model.classification
    assert adjusted.classification is expected
    assert adjusted.flags == ((*model.flags, Flag.BELOW_CHAMPION) if demoted else model.flags)
    assert adjusted.checks == model.checks
