"""A service's heartbeat into a shared archive's database (`status` and /health list them).

Its own thread: a database that is away never holds up the service, and a missed beat
is only logged once the database answers again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat", "installed_version"]

HEARTBEAT_SECONDS = 2.0


def installed_version() -> str:
    """gatewatch's installed version ("unknown" from a bare checkout)."""
    try:
        return version("gatewatch")
    except PackageNotFoundError:
        return "unknown"


class Heartbeat:
    """Beats every HEARTBEAT_SECONDS until stopped; says goodbye on a clean stop.
    ``on_resumed`` is called when a beat succeeds after one failed (the database is back)."""

    def __init__(
        self, archive: Any, log: Any, on_resumed: Callable[[], object] = lambda: None
    ) -> None:
        self.archive = archive  # a SharedArchive
        self.log = log
        self.on_resumed = on_resumed
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gatewatch-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.archive.heartbeat(self.host, self.pid, installed_version(), self.started)
            except Exception as error:
                if not failing:
                    self.log.warning("heartbeat_failed", error=str(error).strip()[:300])
                failing = True
            else:
                if failing:
                    failing = False
                    self.log.info("heartbeat_resumed")
                    self.on_resumed()
            self._stop.wait(HEARTBEAT_SECONDS)

    def stop(self) -> None:
        """Stop, and take this service off the list."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(Exception):  # the database may be away: the row ages out
            self.archive.farewell(self.host, self.pid)
