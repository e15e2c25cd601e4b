"""Rebuilding the catalog on a thread of its own, for a process that must keep answering."""

from __future__ import annotations

import threading
from collections.abc import Callable

from gating.errors import ArchiveBusyError
from gating.progress import Progress

__all__ = ["RebuildAside"]


class _Rebuild:
    """One rebuild on its thread: how far it is, and how it ended."""

    def __init__(self, rebuild: Callable[[Progress], object]) -> None:
        self.read: tuple[int, int] | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(rebuild,), name="gatewatch-rebuild", daemon=True
        )

    def _run(self, rebuild: Callable[[Progress], object]) -> None:
        try:
            rebuild(self._progress)
        except BaseException as error:  # handed to the queries waiting for it
            self.failure = error

    def _progress(self, done: int, total: int) -> None:
        self.read = (done, total)


class RebuildAside:
    """Runs the rebuild a query needs on a thread of its own, one at a time, and waits for
    it at most ``wait`` seconds: the dashboard answers 503 with how far the rebuild is
    while one of minutes goes on (a million runs), instead of holding a request for all of
    it and failing the others one lock wait later."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._guard = threading.Lock()
        self._current: _Rebuild | None = None

    def run(self, rebuild: Callable[[Progress], object], where: str) -> None:
        """Have ``rebuild(progress)`` done, starting it unless one runs: what it raised, or
        ArchiveBusyError saying how far it is if it takes longer than the wait."""
        with self._guard:
            current = self._current
            if current is None or not current.thread.is_alive():
                current = self._current = _Rebuild(rebuild)
                current.thread.start()
        current.thread.join(self.wait)
        if current.thread.is_alive():
            read = current.read
            how_far = "waiting for the writer lock" if read is None else (
                f"{read[0]} of {read[1]} run folders read"
            )  # fmt: skip
            raise ArchiveBusyError(
                f"{where}: the catalog is being rebuilt ({how_far}); try again shortly"
            )
        if current.failure is not None:
            raise current.failure
