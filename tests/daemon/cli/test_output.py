"""Tests for daemon.cli.output: cells cut to fit a table keep each escape whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.cli.output import _UNIT, _clip
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
