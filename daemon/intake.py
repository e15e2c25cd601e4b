"""Taking one summary file in: read it safely, then archive, skip or reject it."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gating import ArchivedRun, ArchiveError, SummaryError, TrainingArchiveManager

__all__ = ["NotRegularFileError", "Outcome", "ingest", "read_regular_file"]

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


def ingest(
    manager: TrainingArchiveManager, path: Path, rejected: set[str] | None = None
) -> Outcome:
    """Archive one file, or record why not; ``rejected`` holds sha256s not to retry."""
    started = time.perf_counter()

    def done(kind: OutcomeKind, **fields: object) -> Outcome:
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return Outcome(kind, path, duration_ms=elapsed, **fields)  # type: ignore[arg-type]

    try:
        raw = read_regular_file(path, manager.max_file_bytes)
    except NotRegularFileError as error:
        return done("skipped", reason=f"{error.strerror}; only regular files are read")
    except SummaryError as error:
        try:
            manager.reject(None, source=str(path), reason=str(error))
        except ArchiveError as failure:
            return done("failed", reason=str(failure))
        return done("rejected", reason=str(error))
    except OSError as error:
        return done("failed", reason=f"cannot read: {error.strerror or error}")
    sha256 = hashlib.sha256(raw).hexdigest()
    if rejected is not None and sha256 in rejected:
        return done("skipped", reason="rejected before and unchanged", sha256=sha256)
    try:
        existing = manager.find_by_sha256(sha256)  # cheaper than parsing the file again
        if existing is not None:
            return done("duplicate", timestamp=existing, sha256=sha256)
        run = manager.archive_training_run(raw, source=str(path))
    except SummaryError as error:
        try:
            manager.reject(raw, source=str(path), reason=str(error), sha256=sha256)
        except ArchiveError as failure:
            return done("failed", reason=str(failure), sha256=sha256)
        if rejected is not None:
            rejected.add(sha256)
        return done("rejected", reason=str(error), sha256=sha256)
    except ArchiveError as error:
        return done("failed", reason=str(error), sha256=sha256)
    kind: OutcomeKind = "duplicate" if run.duplicate else "archived"
    return done(kind, run=run, timestamp=run.timestamp, sha256=sha256)
