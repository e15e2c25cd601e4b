"""Run timestamps and times as the commands take them: a timestamp, a unique prefix of one,
``latest``, or an ISO 8601 time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from gating.archive.layout import is_timestamp, ts_from_micros, ts_micros
from gating.errors import (
    AmbiguousTimestampError,
    ArgumentError,
    RunNotFoundError,
    TimeFormatError,
    shown,
)
from gating.verdicts import iso_from_micros, micros_from_iso

if TYPE_CHECKING:
    from gating.archive.storage import Storage

__all__ = ["Moment", "missing_run", "resolve_time", "resolve_timestamp"]

Moment = tuple[str, str]  # a time as (newest run timestamp included, newest decided_at included)

_PREFIX = re.compile(r"^[0-9][0-9TZ]*$")
_RUN_PREFIX = re.compile(r"^\d{8}T\d*Z?$")
_CANDIDATES_SHOWN = 10


def resolve_timestamp(catalog: Storage, text: str) -> str:
    """A run's timestamp from itself, a unique prefix of it, or ``latest``.

    RunNotFoundError when no run matches; AmbiguousTimestampError listing the candidates
    when several do.
    """
    text = text.strip()
    if not text:  # every run's prefix: never one run
        raise TimeFormatError("a run is named by its timestamp, a unique prefix of it or latest")
    if text == "latest":
        latest = catalog.latest()
        if latest is None:
            raise RunNotFoundError("no runs archived yet")
        return latest
    found = catalog.with_prefix(text, _CANDIDATES_SHOWN + 1) if _PREFIX.match(text) else []
    if text in found:
        return text
    if not found:
        raise missing_run(text, catalog.damaged())
    if len(found) > 1:
        listed = ", ".join(found[:_CANDIDATES_SHOWN])
        more = " and more" if len(found) > _CANDIDATES_SHOWN else ""
        raise AmbiguousTimestampError(f"{text!r} matches several runs: {listed}{more}")
    return found[0]


def missing_run(text: str, damaged: Iterable[tuple[str, str]]) -> RunNotFoundError:
    """The error for a timestamp (or prefix) no readable run has. Among ``damaged`` (run
    folders that cannot be read, and why), the one it names is named, with why: the
    folder is there, the run cannot be read."""
    named = [(t, why) for t, why in damaged if t.startswith(text)] if text else []
    if len(named) == 1:
        timestamp, why = named[0]
        return RunNotFoundError(
            f"run {timestamp} is damaged, its folder cannot be read ({why}): "
            "`gatewatch reindex` lists every damaged run"
        )
    if is_timestamp(text):
        return RunNotFoundError(f"no archived run has timestamp {text!r}")
    return RunNotFoundError(f"no archived run has a timestamp starting with {shown(text)}")


def resolve_time(catalog: Storage, when: str | datetime) -> Moment:
    """A TIME (a run timestamp, a unique prefix, ``latest``, or ISO 8601) as a Moment."""
    if not isinstance(when, str | datetime):
        raise ArgumentError(f"a TIME is a str or a datetime, not {type(when).__name__}")
    if isinstance(when, datetime):
        micros = micros_from_iso(when.isoformat())
    elif is_timestamp(when.strip()):
        micros = ts_micros(when.strip())
    elif when.strip() == "latest" or _RUN_PREFIX.match(when.strip()):
        micros = ts_micros(resolve_timestamp(catalog, when))
    else:
        try:
            micros = micros_from_iso(when)
        except ValueError:
            if not _PREFIX.match(when.strip()):
                raise TimeFormatError(
                    f"{shown(when)} is not a run timestamp, a prefix of one, latest or an ISO time"
                ) from None
            micros = ts_micros(resolve_timestamp(catalog, when))  # 2026: a prefix of runs'

    return ts_from_micros(micros), iso_from_micros(micros)
