"""Tests for gating.report: the sparkline and the recommendations report."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import ModelGatingConfig, parse_summary, render_recommendations, sparkline
from gating.run import gate_summary
from tests.conftest import make_model


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([0.0, 0.5, 1.0], "▁▅█"),
        ([1.0, 0.0], "█▁"),
        ([0.3, 0.3], "▁▁"),
        ([0.0, None, math.nan, 1.0], "▁··█"),
        ([None], "·"),
        ([0.0, math.inf, 1.0], "▁·█"),
        ([1e308, 1e308, 0.0], "██▁"),
        ([0.0, 2.2250738585072014e-308], "▁█"),
        ([0.0, -5e-324], "█▁"),
        ([1e308, -1e308], "█▁"),  # the span overflows: it killed the service's worker
        ([1.7976931348623157e308, None, -1.7976931348623157e308, 0.0], "█·▁▅"),
        ([], ""),
    ],
)
def test_sparkline(history: list[float | None], expected: str) -> None:
    """The sparkline scales from the lowest to the highest point and shows gaps as dots."""
    assert sparkline(history) == expected


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=49),
    st.integers(min_value=0, max_value=49),
)
def test_a_gap_changes_only_its_own_character(history: list[float], at: int) -> None:
    """A gap shows as a dot and leaves every other character of the sparkline as it was."""
    at = min(at, len(history))
    gapped: list[float | None] = [*history[:at], None, *history[at:]]
    line = sparkline(gapped)
    assert line[at] == "·"
    assert line[:at] + line[at + 1 :] == sparkline(history)


def test_sparkline_downsamples_long_histories() -> None:
    """A long history is squeezed to the width while keeping its peak."""
    line = sparkline([i / 199 for i in range(200)], width=40)
    assert len(line) == 40
    assert line[0] == "▁"
    assert line[-1] == "█"


def test_report_reads_at_a_glance() -> None:
    """The report has counts, a table per class, flag meanings and checkpoint advice."""
    summary = parse_summary(
        {
            "run_id": "ppo-x",
            "validation_interval": 10_000,
            "models": {
                "AAPL": make_model(history=[0.6, 0.9, 0.8, 0.75]),
                "MSFT": make_model(0.6),
                "TSLA": make_model(0.2, None),
            },
        }
    )
    run = gate_summary(summary, ModelGatingConfig(), "20240101T000000000000Z", "in/s.json")
    text = render_recommendations(run)
    assert "**1 APPROVED · 1 REVIEW · 1 DROP** (3 models)" in text
    for heading in ("## APPROVED", "## REVIEW", "## DROP", "## Checkpoint advice"):
        assert heading in text
    assert "step **20,000**" in text
    assert "`FITNESS_DECLINE`: final fitness fell" in text
    assert "`MISSING_METRIC`:" in text
    assert "`▁█▆▅`" in text
    assert "| TSLA | 0.2 | — |" in text


def test_report_says_what_stands_between_a_model_and_approved() -> None:
    """REVIEW and DROP tables give each model's reasons in words; APPROVED has none."""
    summary = parse_summary(
        {
            "models": {
                "AAPL": make_model(),
                "MSFT": make_model(max_dd=0.09),
                "TSLA": make_model(None, consistency=0.5),
            }
        }
    )
    run = gate_summary(summary, ModelGatingConfig(), "20240101T000000000000Z")
    lines = render_recommendations(run).splitlines()
    assert lines[lines.index("## APPROVED — deploy to production") + 2].endswith("| Flags |")
    assert next(line for line in lines if line.startswith("| MSFT")).endswith(
        "| — | max_drawdown 0.09 > 0.08 |"
    )
    assert next(line for line in lines if line.startswith("| TSLA")).endswith(
        "| fitness missing; consistency 0.50 < 0.85 |"
    )


def test_checkpoint_point_is_counted_from_one_and_unstable_deploys_carry_a_caution() -> None:
    """best_idx 3 reads as the 4th point; an APPROVED model with UNSTABLE_TRAINING is flagged."""
    history: list[float | None] = [0.70, 0.95, 0.60, 0.96, 0.80]
    summary = parse_summary(
        {
            "validation_interval": 100,
            "models": {"AAPL": make_model(0.9, 2.0, 0.9, 0.05, history), "MSFT": make_model()},
        }
    )
    run = gate_summary(summary, ModelGatingConfig(), "20240101T000000000000Z", "in/s.json")
    report = render_recommendations(run)
    assert "the 4th validation point (index 3, peak fitness 0.96)" in report
    assert "step **400**" in report
    assert "Deploy: AAPL (caution: unstable training, check its history first), MSFT" in report
