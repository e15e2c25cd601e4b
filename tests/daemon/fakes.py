"""Fakes the service's seams take in tests: a log that records and a clock that steps."""

from __future__ import annotations

import logging
from typing import Any

Record = tuple[str, str, dict[str, Any]]


class FakeLog:
    """Collects (level, event, fields) triples from info()/warning()/... and log()."""

    def __init__(self) -> None:
        self.events: list[Record] = []

    def log(self, level: int, event: str, **fields: Any) -> None:
        """Record an event logged with a numeric level."""
        self.events.append((logging.getLevelName(level).lower(), event, fields))

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.events.append((level, event, fields))

    def named(self, event: str, level: str | None = None) -> list[dict[str, Any]]:
        """The fields of every event with that name (and level)."""
        return [f for lv, e, f in self.events if e == event and level in (None, lv)]


class FakeClock:
    """A monotonic clock moved by hand, and a wall clock that can step either way."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def monotonic(self) -> float:
        """The monotonic reading."""
        return self.mono

    def time(self) -> float:
        """The wall-clock reading."""
        return self.wall

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on both clocks."""
        self.mono += seconds
        self.wall += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone (NTP or an operator setting the time)."""
        self.wall += seconds
