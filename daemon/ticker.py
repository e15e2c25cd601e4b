"""Interval jobs on the monotonic clock: a stepped wall clock never stalls them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Ticker"]


class Clock(Protocol):
    """Where the service reads the time: monotonic for intervals, wall for timestamps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (time.monotonic)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch on the wall clock, which may step (time.time)."""
        ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def time(self) -> float:
        """time.time()."""
        return time.time()


class Ticker:
    """Names jobs due every so many seconds of monotonic time; missed ticks coalesce."""

    def __init__(
        self, intervals: Mapping[str, float], clock: Clock, request: Callable[[str], None]
    ) -> None:
        self.intervals = dict(intervals)
        self.clock = clock
        self.request = request
        start = clock.monotonic()
        self._next = {name: start + every for name, every in self.intervals.items()}

    def poll(self) -> list[str]:
        """Request each job whose time came (once, however many ticks were missed)."""
        now = self.clock.monotonic()
        fired = []
        for name, at in self._next.items():
            if now >= at:
                every = self.intervals[name]
                self._next[name] = at + every * (math.floor((now - at) / every) + 1)
                self.request(name)
                fired.append(name)
        return fired
