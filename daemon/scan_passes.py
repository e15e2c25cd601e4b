"""ScanPasses: the worker's scans of the watched folders, one pass a slice at a time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.scan import FileFilter, scan
from daemon.ticker import Clock

__all__ = ["POLL_PACE", "SCAN_SLICE_SECONDS", "SCAN_TURN_SECONDS", "Pass", "ScanPasses", "Take"]

SCAN_SLICE_SECONDS = 0.05  # a scan's turn between two batches when files are waiting
SCAN_TURN_SECONDS = 0.5  # its turn when none are (the inbox and a stop are looked at)
POLL_PACE = 20  # polling the folders inotify cannot watch: 1/20 of the time at most (a tick
# of the poll job that comes sooner after the last poll than 19 x its time is passed over)

# (path, its stat, monotonic now, wall-clock now) -> whether the file is new to the worker.
Take = Callable[[Path, os.stat_result, float, float], bool]


@dataclass(slots=True)
class Pass:
    """A scan in progress, advanced a slice at a time between batches."""

    kind: str  # startup | rescan | poll
    entries: Iterator[tuple[Path, os.stat_result]]
    started: float = field(default_factory=time.perf_counter)
    found: int = 0  # files new to the worker
    spent: float = 0.0  # seconds of its slices


class ScanPasses:
    """At most one pass over the watched folders at a time, advanced a slice per turn, and
    the immediate scan of a folder just made. It finds files; ``take`` (the worker) says
    which are new, and the worker logs what a finished pass found (it keeps the startup
    tally). Every scan stays inside ``watched``: a folder swapped for a symlink to
    elsewhere is not entered."""

    def __init__(
        self,
        file_filter: FileFilter,
        watched: Sequence[Path],
        recursive: bool,
        log: Any,
        clock: Clock,
    ) -> None:
        self.file_filter = file_filter
        self.watched = tuple(watched)
        self.recursive = recursive
        self.log = log
        self.clock = clock
        self.current: Pass | None = None
        self._poll_after = 0.0  # no poll before (see POLL_PACE)
        self._told_unreadable: set[Path] = set()  # folders a scan could not list, said once

    def poll_due(self) -> bool:
        """Whether a poll may start: the last one's time times POLL_PACE - 1 has passed."""
        return self.clock.monotonic() >= self._poll_after

    def start(self, kind: str) -> None:
        """Begin a pass of ``kind`` (startup or rescan) over the watched folders."""
        self._begin(Pass(kind, self._scan(self.watched, self.recursive)))

    def start_poll(self, roots: Sequence[Path]) -> None:
        """Begin a poll: a pass over the folders inotify could not watch, each whole."""
        self._begin(Pass("poll", self._scan(roots, True)))

    def scan_at_once(self, roots: Sequence[Path], take: Take) -> None:
        """Scan a new folder at once (small, and its files may already be complete); one
        that is a symlink now, lies outside the watched folders or is excluded is not."""
        now, wall = self.clock.monotonic(), self.clock.time()
        for path, info in self._scan(roots, self.recursive):
            take(path, info, now, wall)

    def advance(self, take: Take, hurry: Callable[[], bool]) -> Pass | None:
        """Advance the pass under way: a short slice while ``hurry`` says files wait, else
        a longer one. Returns the pass when this slice finished it."""
        current = self.current
        if current is None:
            return None
        started = time.perf_counter()
        short, long = started + SCAN_SLICE_SECONDS, started + SCAN_TURN_SECONDS
        now, wall = self.clock.monotonic(), self.clock.time()
        for path, info in current.entries:
            if take(path, info, now, wall):
                current.found += 1
            clock = time.perf_counter()
            if clock > long or (clock > short and hurry()):
                current.spent += clock - started
                return None
        self.current = None
        if current.kind == "poll":
            spent = current.spent + time.perf_counter() - started
            self._poll_after = self.clock.monotonic() + (POLL_PACE - 1) * spent
        return current

    def _begin(self, started: Pass) -> None:
        if self.current is not None:  # the worker starts one only when none is under way
            raise RuntimeError(f"a {self.current.kind} pass is under way")
        self.current = started

    def _scan(
        self, roots: Sequence[Path], recursive: bool
    ) -> Iterator[tuple[Path, os.stat_result]]:
        return scan(
            roots, self.file_filter, recursive, watched=self.watched, unreadable=self._unreadable
        )

    def _unreadable(self, folder: Path, error: OSError) -> None:
        """A folder a scan cannot list: said once (its summaries wait until it can be)."""
        if folder not in self._told_unreadable:
            self._told_unreadable.add(folder)
            self.log.warning(
                "folder_unreadable",
                path=str(folder),
                error=error.strerror or str(error),
                action="give the service read access, or a shorter path",
            )
