"""What became of the files the startup scan found, summed up in one line when all are done."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["StartupTally"]


@dataclass(slots=True)
class StartupTally:
    """Counts the outcomes of the startup scan's files; ``summary()`` once, when all are in."""

    waiting: set[Path] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    scanned: bool = False
    reported: bool = False
    started: float = field(default_factory=time.perf_counter)

    def __contains__(self, path: object) -> bool:
        return path in self.waiting

    def found(self, path: Path) -> None:
        """The startup scan found this file."""
        self.waiting.add(path)

    def forget(self, path: Path) -> None:
        """The file went away or is not ours: it is not waited for (counted as gone)."""
        if path in self.waiting:
            self.waiting.discard(path)
            self.counts["gone"] = self.counts.get("gone", 0) + 1

    def handled(self, path: Path, kind: str) -> None:
        """An outcome for a file, counted once: a failure too (it is retried with its
        backoff; a file that fails at every start held the line back for good)."""
        if path in self.waiting:
            self.waiting.discard(path)
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def summary(self) -> dict[str, Any] | None:
        """The totals, the first time every file found is handled (None before and after)."""
        if not self.scanned or self.waiting or self.reported:
            return None
        self.reported = True
        if not self.counts:
            return None  # the scan found nothing: nothing to sum up
        return {
            "archived": self.counts.get("archived", 0),
            "already_archived": self.counts.get("duplicate", 0),
            "rejected": self.counts.get("rejected", 0),
            "skipped": self.counts.get("skipped", 0),
            "failed": self.counts.get("failed", 0),
            "gone": self.counts.get("gone", 0),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }
