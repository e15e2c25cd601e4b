"""The archive's writer lock: one flock(2) file, shared by writers and the service."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from gating.errors import ArchiveBusyError, ArchiveError

__all__ = ["FileLock"]

_POLL_SECONDS = 0.005


def _open_lock_file(path: Path) -> int:
    """The lock file, created if need be; read-only for a reader who may not write it
    (flock needs no write access)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


class FileLock:
    """An exclusive flock on a file, re-entrant within one object and thread-safe.

    ``acquire`` waits at most ``timeout`` seconds (ArchiveBusyError after that), or until
    ``cancelled`` is set; the file is opened once and kept open.
    """

    def __init__(self, path: Path, *, what: str = "another writer") -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None
        self._depth = 0
        self._thread_lock = threading.RLock()

    def _open(self) -> int:
        if self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = _open_lock_file(self.path)
            except OSError as error:
                raise ArchiveError(
                    f"{self.path.parent}: cannot open the archive: {error}"
                ) from None
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if not self._thread_lock.acquire(blocking=False):
            return False
        try:
            if self._depth == 0:
                fcntl.flock(self._open(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._thread_lock.release()
            return False
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth += 1
        return True

    def acquire(self, timeout: float, cancelled: threading.Event | None = None) -> None:
        """Take the lock, waiting up to ``timeout`` seconds (ArchiveBusyError after)."""
        started = time.monotonic()
        while not self.try_acquire():
            waited = time.monotonic() - started
            if waited >= timeout or (cancelled is not None and cancelled.is_set()):
                raise ArchiveBusyError(
                    f"{self.path.parent}: {self.what} held the lock for {waited:.3g} s"
                )
            time.sleep(_POLL_SECONDS)

    def release(self) -> None:
        """Give the lock back (the file lock only when the outermost holder releases)."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._depth > 0

    def close(self) -> None:
        """Close the lock file (releasing the lock if it is held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._depth = 0
