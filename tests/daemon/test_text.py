"""Tests for daemon.text: what reaches a terminal or a page."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from daemon.text import named, visible

_HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format, surrogates, separators


def test_every_control_format_character_and_surrogate_is_escaped() -> None:
    """No character of those categories (nor a Hangul filler) reaches the terminal raw."""
    raw = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in _HIDDEN
    ]
    # Drawn as nothing though not format characters: fillers, variation selectors, ...
    raw += ["\u034f", "\u115f", "\u1160", "\u17b4", "\u180b", "\u2800", "\u3164"]
    raw += ["\ufe0f", "\uffa0", "\U000e0100", "\U000e01ef"]
    assert [c for c in raw if visible(c) == c] == []
    assert all(visible(c).isprintable() and visible(c).isascii() for c in raw)


@pytest.mark.parametrize("text", ["AAPL", "BRK.B", "ÉTÉ", "模型-7", "emoji 🙂", "a b\u00a0c"])
def test_printable_text_is_left_as_it_is(text: str) -> None:
    """Letters, digits, punctuation and symbols of any script pass unchanged."""
    assert visible(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [("a\nb", "a\\nb"), ("\x1b[2J", "\\x1b[2J"), ("x\u202ey", "x\\u202ey"), ("\udcff", "\\udcff")],
)
def test_escapes_read_as_python_writes_them(text: str, shown: str) -> None:
    """Each hidden character is written as its Python escape."""
    assert visible(text) == shown


@pytest.mark.parametrize(
    ("typed", "echoed"),
    [
        ("AAPL", "AAPL"),
        ("A\x1b[2JB", "A\\x1b[2JB"),
        ("S" * 100, "S" * 100),
        ("S" * 100_000, "S" * 100 + "…"),
    ],
)
def test_a_typed_name_is_echoed_visible_and_cut(typed: str, echoed: str) -> None:
    """A name echoed in a message is escaped and at most 100 characters (and an ellipsis)."""
    assert named(typed) == echoed
