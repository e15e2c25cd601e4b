"""The files named by watcher events the worker has not read yet: the queue's depth in files."""

from __future__ import annotations

import collections
import threading
from pathlib import Path

from daemon.pending import PendingFiles
from daemon.watcher import WatchEvent

__all__ = ["Unread"]

_FILE_EVENTS = frozenset({"changed", "written", "completed"})  # not a folder, not a deletion


class Unread:
    """A count of events per file, safe across threads: the watcher's thread adds one as it
    queues an event, the worker takes it off as it reads the event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: collections.Counter[Path] = collections.Counter()

    def add(self, event: WatchEvent) -> None:
        """One more event is queued."""
        if event.kind in _FILE_EVENTS:
            with self._lock:
                self._events[event.path] += 1

    def read(self, event: WatchEvent) -> None:
        """One event was read (a file's count never goes below none)."""
        if event.kind in _FILE_EVENTS:
            with self._lock:
                if self._events[event.path] > 1:
                    self._events[event.path] -= 1
                else:
                    self._events.pop(event.path, None)

    def files(self) -> list[Path]:
        """The files with an event queued, a copy."""
        with self._lock:
            return list(self._events)

    def waiting(self, known: PendingFiles) -> int:
        """How many files wait: those ``known`` to the worker and those named by an event
        not read yet, each once (a file written is several events: created, written,
        closed)."""
        return len(known) + sum(1 for path in self.files() if path not in known)
