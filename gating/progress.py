"""Progress: how long work (a catalog rebuild, a regate, an export) says how far it is."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

Progress = Callable[[int, int], None]  # called with (done, total) as the work goes on
