"""Reading a summary file safely: a regular file only (never through a symlink, never
blocking on a FIFO), inside the watched folders, no more than max_file_bytes."""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from gating import SummaryError

__all__ = [
    "NotRegularFileError",
    "lies_within",
    "read_regular_file",
    "read_until_end",
    "real_roots",
]


class NotRegularFileError(OSError):
    """The path is a symlink, FIFO, socket, device or folder, or it lies outside the
    watched folders (reached through a symlinked folder): it is never read."""


_OUTSIDE = "lies outside the watched folders (a folder on its way is a symlink)"


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


def read_until_end(read: Callable[[int], bytes], *, limit: int, hint: int) -> bytes:
    """At most ``limit`` bytes from ``read`` (``os.read`` of a file, a stdin's), in chunks
    of ``hint`` (a file's size: a growing file is followed), rather than one buffer of
    ``limit`` bytes (16 MiB by default) each time."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = read(min(remaining, max(hint, 65536)))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def real_roots(roots: Sequence[Path]) -> tuple[str, ...]:
    """Where each folder really is (a watched path may be a symlink), for lies_within:
    resolved once for a batch or a scan, not for each file or folder in it."""
    return tuple(os.path.realpath(root) for root in roots)


def lies_within(fd: int, real: Sequence[str]) -> bool:
    """True when the open file or folder ``fd`` really lies inside one of the folders
    ``real`` (from real_roots).

    O_NOFOLLOW guards only the last name of a path: a folder on its way swapped for a
    symlink is followed, so where the open file is comes from the kernel (/proc). Without
    /proc the check is skipped.
    """
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True
    return any(where == root or where.startswith(root.rstrip("/") + "/") for root in real)


def read_regular_file(path: Path, max_bytes: int, within: Sequence[str] | None = None) -> bytes:
    """Read a regular file without following symlinks or blocking on FIFOs.

    Raises NotRegularFileError for anything but a regular file, or one that lies outside
    the folders ``within`` (from real_roots, when given: reached through a symlinked
    folder), SummaryError when it is larger than ``max_bytes`` (nothing is read), and
    OSError when it cannot be read.
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
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"is {_kind_of(info.st_mode)}", str(path))
        if within is not None and not lies_within(fd, within):
            raise NotRegularFileError(errno.EXDEV, _OUTSIDE, str(path))
        if info.st_size > max_bytes:  # its size and time name it: see rejections.unread_key
            raise SummaryError(
                f"file: {info.st_size} bytes is larger than max_file_bytes ({max_bytes}); "
                f"changed {_changed(info)}"
            )
        data = read_until_end(
            functools.partial(os.read, fd), limit=max_bytes + 1, hint=info.st_size + 1
        )
        if len(data) > max_bytes:  # named by its size and time then, as above
            now = os.fstat(fd)
            raise SummaryError(
                f"file: grew past max_file_bytes ({max_bytes}) while being read "
                f"({now.st_size} bytes, changed {_changed(now)})"
            )
    finally:
        os.close(fd)
    return data


def _changed(info: os.stat_result) -> str:
    """When a file last changed, to the microsecond (UTC)."""
    moment = datetime.fromtimestamp(info.st_mtime_ns / 1e9, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
