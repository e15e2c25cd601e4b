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


_RELOCKS = 10  # times the lock file may vanish under one acquisition before it is an error


def _open_lock_file(path: Path) -> int:
    """The lock file, created if need be; read-only for a reader who may not write it
    (flock needs no write access). A folder is locked as it is (it cannot be deleted
    while it holds an archive)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except IsADirectoryError:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted nor replaced)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


class FileLock:
    """An exclusive flock on a file, re-entrant within one object and thread-safe.

    ``acquire`` waits at most ``timeout`` seconds (ArchiveBusyError after that), or until
    ``cancelled`` is set; the file is opened once and kept open. Each outermost
    acquisition checks that the file locked is still the one the path names: a lock file
    deleted by hand (or replaced) is opened anew, so that a writer that came after it,
    which locks the new file, is waited for rather than let in beside this one.
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
                self._lock_the_named_file()
        except BlockingIOError:
            self._thread_lock.release()
            return False
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth += 1
        return True

    def _lock_the_named_file(self) -> None:
        """flock the file the path names now (BlockingIOError if another holds it)."""
        for _ in range(_RELOCKS):
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _names(self.path, fd):
                return
            self.close()  # deleted or replaced since it was opened: lock the one named now
        raise ArchiveError(f"{self.path}: the lock file keeps being deleted or replaced")

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
