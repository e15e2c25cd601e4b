"""Text from files as a person sees it: control and invisible characters escaped."""

from __future__ import annotations

import re

__all__ = ["named", "visible"]

# C0 and C1 controls, the line and paragraph separators, the bidirectional controls
# (U+202E turns the rest of a line around: "evil\u202efdp.exe" reads as "evilexe.pdf"),
# the other format characters and those Unicode says to draw as nothing (a zero-width
# space makes "AAPL\u200b" pass for AAPL; variation selectors, Hangul fillers, the blank
# braille cell), and lone surrogates (a file name's undecodable bytes: printed raw, they
# end a command with UnicodeEncodeError).
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    "\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u2800\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def visible(text: str) -> str:
    """Text for a terminal or a page: control and invisible characters (ESC, newlines,
    C1, bidirectional overrides, zero-width ones) shown as escapes, so a symbol or reason
    from a file can neither drive the terminal, nor forge a line, nor turn text around,
    nor hide; a name's undecodable bytes as ``\\udcXX``."""
    return _HIDDEN.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    """One such character as Python writes it (``\\n``, ``\\x1b``, ``\\u200b``)."""
    character = found.group()
    written = repr(character)[1:-1]
    if written != character:
        return written
    return f"\\u{ord(character):04x}" if ord(character) <= 0xFFFF else f"\\U{ord(character):08x}"


def named(text: str, at_most: int = 100) -> str:
    """A name the user typed, to echo in a message: visible, and cut at ``at_most``
    characters (a 100 kB symbol came back whole)."""
    return visible(text if len(text) <= at_most else text[:at_most] + "…")
