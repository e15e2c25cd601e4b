"""StatusReporter: the service's counts of its outcomes, written to status.json every few
seconds (what the document holds and how it is judged: daemon.status)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from daemon.intake import Outcome
from daemon.status import COUNTERS, STATUS_SECONDS, iso_time, status_document, write_status

__all__ = ["StatusReporter"]


class StatusReporter:
    """Counts the worker's outcomes and writes status.json every few seconds."""

    def __init__(self, archive_dir: Path, interval: float = STATUS_SECONDS) -> None:
        self.archive_dir = archive_dir
        self.interval = interval
        self.started = time.time()
        self.host = socket.gethostname()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.last_archive: dict[str, Any] | None = None
        self.last_error: dict[str, Any] | None = None
        self.failing_since: float | None = None  # archiving failed, nothing archived since
        self._failing: set[Path] = set()  # the files whose last attempt the archive failed
        self._written = float("-inf")
        self._lock = threading.Lock()
        self.write_error: str | None = None  # why the last write of status.json failed

    def record(self, outcome: Outcome) -> None:
        """Count one file's outcome (called by the worker)."""
        with self._lock:
            run = outcome.run
            if outcome.kind in {"archived", "rejected"}:  # the archive took a write
                self._failing.clear()
            elif outcome.kind != "failed":  # a failed file answered since (a duplicate, say)
                self._failing.discard(outcome.source)
            if outcome.kind == "archived" and run is not None:
                self.counters["archived"] += 1
                self.counters["approved"] += run.approved_count
                self.counters["review"] += run.review_count
                self.counters["dropped"] += run.dropped_count
                self.last_archive = {
                    "timestamp": run.timestamp,
                    "run_id": run.run_id,
                    "source": str(outcome.source),
                    "at": iso_time(time.time()),
                }
            elif outcome.kind == "duplicate":
                self.counters["duplicates"] += 1
            elif outcome.kind == "rejected":
                self.counters["rejected"] += 1
            elif outcome.kind == "failed":
                self.counters["failed"] += 1
                self.error("archive_failed", f"{outcome.source}: {outcome.reason}")
                if outcome.sha256 is not None:  # read, so the archive failed it
                    self._failing.add(outcome.source)
                    if self.failing_since is None:
                        self.failing_since = time.time()
            if not self._failing:
                self.failing_since = None

    def forget(self, source: Path) -> None:
        """A file was deleted: a failure of its no longer says the archive fails."""
        with self._lock:
            self._failing.discard(source)
            if not self._failing:
                self.failing_since = None

    def error(self, event: str, message: str) -> None:
        """Remember the latest error the service logged."""
        self.last_error = {"event": event, "message": message, "at": iso_time(time.time())}

    def tell(self, event: str, message: str | None) -> None:
        """``event`` failed saying ``message`` (the latest error), or, with None, succeeded
        since: its failure is no longer the last error."""
        if message is not None:
            self.error(event, message)
        elif self.last_error is not None and self.last_error["event"] == event:
            self.last_error = None

    def due(self) -> bool:
        """Whether the interval has passed since status.json was written."""
        return time.monotonic() - self._written >= self.interval

    def write(
        self, state: str, queue_depth: int, *, unwatched: int = 0, force: bool = False
    ) -> bool:
        """Write status.json when the interval has passed (or ``force``); True if written."""
        if not force and not self.due():
            return False
        self._written = time.monotonic()
        with self._lock:
            document = status_document(
                pid=os.getpid(),
                host=self.host,
                started=self.started,
                state=state,
                queue_depth=queue_depth,
                counters=self.counters,
                unwatched_folders=unwatched,
                last_archive=self.last_archive,
                last_error=self.last_error,
                now=time.time(),
                failing_since=self.failing_since,
            )
        try:
            write_status(self.archive_dir, document)
        except OSError as error:
            self.write_error = str(error)  # a convenience: never stop the service for it
            return False
        self.write_error = None
        return True
