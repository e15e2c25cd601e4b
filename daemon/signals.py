"""Signals of `run` and `serve`: a handler that only queues them, a thread that sets events."""

from __future__ import annotations

import queue
import signal
import threading
from types import FrameType

__all__ = ["SignalEvents"]


class SignalEvents:
    """SIGTERM and SIGINT set ``stop``, SIGHUP sets ``reload``.

    The handler only puts the signal in a SimpleQueue, whose put may be re-entered; a
    thread of its own sets the events. An Event.set() in the handler took a lock that a
    second signal, coming inside it, then waited on for ever: a burst of SIGHUPs hung
    `run` (SIGTERM no longer stopped it) and `serve` (its event loop froze).
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def install(self, *signums: int) -> None:
        """Take these signals from now on (in the main thread, as Python requires)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._hand_on, name="gatewatch-signals")
            self._thread.daemon = True
            self._thread.start()
        for signum in signums:
            signal.signal(signum, self._queued)

    def _queued(self, signum: int, _frame: FrameType | None) -> None:
        self._queue.put(signum)

    def _hand_on(self) -> None:
        while True:
            signum = self._queue.get()
            (self.reload if signum == signal.SIGHUP else self.stop).set()
