"""Taking one summary file in: read it safely, then archive, skip or reject it."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gating import ArchivedRun, ArchiveError, PreparedRun, SummaryError, TrainingArchiveManager

__all__ = ["NotRegularFileError", "Outcome", "ingest", "ingest_many", "read_regular_file"]

OutcomeKind = Literal["archived", "duplicate", "rejected", "skipped", "failed"]


class NotRegularFileError(OSError):
    """The path is a symlink, FIFO, socket, device or folder: it is never read."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one file."""

    kind: OutcomeKind
    source: Path
    run: ArchivedRun | None = None
    timestamp: str | None = None
    reason: str | None = None
    sha256: str | None = None
    duration_ms: float = 0.0


def _kind_of(mode: int) -> str:
    kinds = {
        stat.S_ISLNK: "a symlink",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISDIR: "a folder",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a regular file without following symlinks or blocking on FIFOs.

    Raises NotRegularFileError for anything but a regular file, SummaryError when it is
    larger than ``max_bytes`` (nothing is read), and OSError when it cannot be read.
    """
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(errno.EINVAL, f"is {_kind_of(info.st_mode)}", str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegularFileError(errno.ELOOP, "is a symlink", str(path)) from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"is {_kind_of(info.st_mode)}", str(path))
        if info.st_size > max_bytes:
            raise SummaryError(
                f"file: {info.st_size} bytes is larger than max_file_bytes ({max_bytes})"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SummaryError(f"file: grew past max_file_bytes ({max_bytes}) while being read")
    return data


@dataclass(frozen=True, slots=True)
class _Read:
    """A file read and checked, waiting to be written: a prepared run or a rejection."""

    path: Path
    started: float
    raw: bytes | None
    sha256: str | None
    prepared: PreparedRun | None = None
    reason: str | None = None


def _outcome(kind: OutcomeKind, path: Path, started: float, **fields: Any) -> Outcome:
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return Outcome(kind, path, duration_ms=elapsed, **fields)


def _read_and_prepare(
    manager: TrainingArchiveManager, path: Path, rejected: set[str] | None
) -> Outcome | _Read:
    """Everything before the first write: read, hash, skip or prepare (no disk writes)."""
    started = time.perf_counter()
    try:
        raw = read_regular_file(path, manager.max_file_bytes)
    except NotRegularFileError as error:
        reason = f"{error.strerror}; only regular files are read"
        return _outcome("skipped", path, started, reason=reason)
    except SummaryError as error:
        return _Read(path, started, None, None, reason=str(error))
    except OSError as error:
        return _outcome("failed", path, started, reason=f"cannot read: {error.strerror or error}")
    sha256 = hashlib.sha256(raw).hexdigest()
    if rejected is not None and sha256 in rejected:
        reason = "rejected before and unchanged"
        return _outcome("skipped", path, started, reason=reason, sha256=sha256)
    try:
        existing = manager.find_by_sha256(sha256)  # cheaper than parsing the file again
        if existing is not None:
            return _outcome("duplicate", path, started, timestamp=existing, sha256=sha256)
        return _Read(path, started, raw, sha256, prepared=manager.prepare(raw, source=str(path)))
    except SummaryError as error:
        return _Read(path, started, raw, sha256, reason=str(error))
    except ArchiveError as error:
        return _outcome("failed", path, started, reason=str(error), sha256=sha256)


def _write(
    manager: TrainingArchiveManager, item: Outcome | _Read, rejected: set[str] | None
) -> Outcome:
    """The writing half: commit the prepared run, or keep the rejected file and why."""
    if isinstance(item, Outcome):
        return item
    path, started, sha256 = item.path, item.started, item.sha256
    if item.prepared is None:
        try:
            manager.reject(item.raw, source=str(path), reason=str(item.reason), sha256=sha256)
        except ArchiveError as failure:
            return _outcome("failed", path, started, reason=str(failure), sha256=sha256)
        if rejected is not None and sha256 is not None:
            rejected.add(sha256)
        return _outcome("rejected", path, started, reason=item.reason, sha256=sha256)
    try:
        run = manager.commit(item.prepared)
    except ArchiveError as error:
        return _outcome("failed", path, started, reason=str(error), sha256=sha256)
    kind: OutcomeKind = "duplicate" if run.duplicate else "archived"
    return _outcome(kind, path, started, run=run, timestamp=run.timestamp, sha256=sha256)


def ingest(
    manager: TrainingArchiveManager, path: Path, rejected: set[str] | None = None
) -> Outcome:
    """Archive one file, or record why not; ``rejected`` holds sha256s not to retry."""
    return _write(manager, _read_and_prepare(manager, path, rejected), rejected)


_DONE = object()


def ingest_many(
    manager: TrainingArchiveManager, paths: Sequence[Path], rejected: set[str] | None = None
) -> Iterator[Outcome]:
    """ingest() each path, outcomes in order; read and prepare the next file in a helper
    thread while this one writes the previous (fsync releases the GIL, so they overlap).

    The caller's thread does all the writing. Consume the iterator to the end.
    """
    if len(paths) < 2:
        yield from (ingest(manager, path, rejected) for path in paths)
        return
    ready: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def prepare_all() -> None:
        try:
            for path in paths:
                if stop.is_set():
                    return
                ready.put(_read_and_prepare(manager, path, rejected))
        except BaseException as error:  # handed to the writing thread, raised there
            ready.put(error)
            return
        ready.put(_DONE)

    helper = threading.Thread(target=prepare_all, name="gatewatch-prepare", daemon=True)
    # The writer comes back from each fsync wanting the GIL; with the default 5 ms switch
    # interval it would wait behind the helper's computing most of that time.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, 0.0005))
    helper.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield _write(manager, item, rejected)  # type: ignore[arg-type]
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        while helper.is_alive():  # let a helper blocked on a full queue finish
            with contextlib.suppress(queue.Empty):
                ready.get_nowait()
            helper.join(0.01)
