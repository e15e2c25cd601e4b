"""Tests for daemon.cli.output: cells cut to fit a table keep each escape whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli.output import _UNIT, _clip, metric, print_table
from daemon.text import visible


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("run-\u202eabcdefgh", 12, "run-…bcdefgh"),  # was "run-\\…bcdefgh"
        ("AAPL\u200bXYZ", 9, "AAPL…XYZ"),  # was "AAPL…bXYZ"
        ("AAPL\u200bXYZ", 13, "AAPL\\u200bXYZ"),
        ("a\nb" * 5, 7, "a\\n…\\nb"),
    ],
)
def test_a_cut_never_splits_an_escape(text: str, width: int, shown: str) -> None:
    """Half of an escape such as ``\\u202e`` is never shown: it is kept whole or cut."""
    assert _clip(visible(text), width) == shown


@given(st.text(max_size=60), st.integers(min_value=1, max_value=70))
def test_a_cut_cell_fits_and_is_made_of_whole_units(text: str, width: int) -> None:
    """Any text cut to any width fits it, and both ends are whole characters or escapes."""
    shown = visible(text)
    clipped = _clip(shown, width)
    assert len(clipped) <= width
    if clipped == shown:
        return
    units = _UNIT.findall(shown)
    heads = ["".join(units[:k]) for k in range(len(units) + 1)]
    assert any(
        clipped == head + "…" + "".join(units[k:]) for head in heads for k in range(len(units) + 1)
    )


def test_a_reason_is_cut_at_its_end(capsys: pytest.CaptureFixture[str]) -> None:
    """A column cut at its end keeps the start a reason is read from (the `rejected`
    table cut the middle: `models.AAPL.max_dr…_dd, final_max_dd)`); others the middle."""
    reason = "models.AAPL.max_drawdown: missing (also accepted: max_dd, final_max_dd)"
    print_table(
        ["SOURCE", "REASON"],
        [["/runs/" + "x" * 40 + "_summary.json", reason]],
        elastic=("SOURCE", "REASON"),
        limit=60,
        cut_at_end=("REASON",),
    )
    source, cut = capsys.readouterr().out.splitlines()[1].split("  ")
    assert cut.startswith("models.AAPL.max_drawdown: ")
    assert cut.endswith("…")
    assert "…" in source
    assert source.endswith("_summary.json")


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("fitness", 0.7512, "0.751"),
        ("consistency", 0.85, "85.0%"),
        ("fitness", None, "-"),
        ("fitness", float("inf"), "inf"),
        ("fitness", "x\x1b", "x\\x1b"),  # a row written by hand: was a TypeError traceback
        ("fitness", True, "True"),
    ],
)
def test_a_metric_is_shown_as_the_report_shows_it(name: str, value: object, shown: str) -> None:
    """Fractions as percents, others to three digits, and anything else as it is."""
    assert metric(name, value) == shown  # type: ignore[arg-type]
