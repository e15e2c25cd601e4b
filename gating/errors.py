"""The gating library's exceptions: one root, each also the built-in it resembles."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AmbiguousTimestampError",
    "ArchiveBusyError",
    "ArchiveError",
    "ArgumentError",
    "DecisionConflictError",
    "DecisionError",
    "GatingConfigError",
    "GatingError",
    "PushRefusedError",
    "ReindexCancelledError",
    "RunNotFoundError",
    "SummaryError",
    "SymbolNotFoundError",
    "TimeFormatError",
    "did_you_mean",
    "shown",
    "text_problem",
]

_SHOWN_CHARS = 60


def shown(value: object) -> str:
    """A value from a file as an error message quotes it: its repr, cut short if long."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def text_problem(value: str) -> str | None:
    """Why a string cannot be kept as text (in a file, a database row), or None: a lone
    surrogate (a JSON escape such as \\ud800, or a name's undecodable bytes) or a NUL
    (\\u0000: no PostgreSQL text holds one)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate, not text"
    if "\x00" in value:
        return "holds a NUL character (\\u0000), not text"
    return None


def did_you_mean(name: str, names: Iterable[str], cutoff: float = 0.75) -> str:
    """`` (did you mean X?)`` for the one of ``names`` closest to a misspelt ``name``, or
    nothing when none is as close as ``cutoff`` (difflib's ratio: a few names far apart,
    such as sections, or a name of a few letters, can take a lower one)."""
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]}?)" if close else ""


def source_text(source: str) -> str:
    """A file's name as text that can be stored: its undecodable bytes (lone surrogates,
    as os gives them) written as ``\\udcXX``."""
    return source.encode("utf-8", "backslashreplace").decode("utf-8")


class GatingError(Exception):
    """Root of every error the gating library raises on purpose."""


class GatingConfigError(GatingError, ValueError):
    """A ModelGatingConfig value is invalid; the message names the field."""


class SummaryError(GatingError, ValueError):
    """A summary is not a valid run summary; the message names the field path."""


class IncompleteSummaryError(SummaryError):
    """A summary ends before its JSON does (empty, or cut off): perhaps still being written."""


class RunNotFoundError(GatingError, KeyError):
    """No archived run has the requested timestamp."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better as plain text.
        return str(self.args[0]) if self.args else "run not found"


class ArgumentError(GatingError, TypeError, ValueError):
    """A library call's argument is of the wrong type or out of range; the message names it."""


class ArchiveError(GatingError, OSError):
    """The archive could not be read or written."""


class ArchiveBusyError(ArchiveError):
    """Another process holds the archive's lock."""


class ReindexCancelledError(GatingError, RuntimeError):
    """A reindex was cancelled before it wrote anything."""


class SymbolNotFoundError(GatingError, KeyError):
    """The run exists but did not gate the requested symbol; the message names it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "symbol not found"


class DecisionError(GatingError, ValueError):
    """A decision cannot be taken: blank reason or name, unknown verdict, unforced override."""


class AmbiguousTimestampError(GatingError, ValueError):
    """A timestamp prefix matches several runs; the message lists them."""


class TimeFormatError(GatingError, ValueError):
    """A TIME is neither a run timestamp (or a unique prefix, or ``latest``) nor ISO 8601."""


class PushRefusedError(GatingError, PermissionError):
    """A gatewatch server refused a sender: no submit token, or the wrong one.
    ``earlier``: what became of the spool's summaries sent before the refusal."""

    earlier: tuple[Any, ...] = ()


class DecisionConflictError(GatingError, RuntimeError):
    """Another decision on the same model came first: this one was not recorded."""
