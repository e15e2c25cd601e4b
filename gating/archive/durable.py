"""Durable file writes: temp file, fsync, rename, fsync of the folder; syncfs for groups."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gating.errors import ArchiveError

__all__ = [
    "append_durably",
    "fsync_dir",
    "has_syncfs",
    "no_room",
    "not_ours",
    "read_regular",
    "read_soon",
    "replace_small",
    "sync_filesystem",
    "syncfs_is_cheap",
    "temp_name",
    "unreadable_now",
    "write_durably",
]


def fsync_dir(folder: Path) -> None:
    """Make the names in a folder (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    import ctypes  # noqa: PLC0415 - ctypes costs a cold query 1 ms: loaded on first use

    try:
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None  # not Linux: a group is fsynced file by file
    return function


_UNLOADED: Any = object()
_SYNCFS: Callable[[int], int] | None = _UNLOADED  # libc's syncfs once _syncfs() loaded it


def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2), or None where there is none."""
    global _SYNCFS
    if _SYNCFS is _UNLOADED:
        _SYNCFS = _load_syncfs()
    return _SYNCFS


def has_syncfs() -> bool:
    """Whether a whole group can be flushed with one syncfs(2)."""
    return _syncfs() is not None


CHEAP_DIRTY_BYTES = 64 * 1024 * 1024
LOOK_EVERY_SECONDS = 1.0  # how long a look at the dirty data is trusted (it costs 20 us)
_looked: dict[Path, tuple[float, bool]] = {}  # meminfo -> (when looked, cheap then)


def syncfs_is_cheap(
    meminfo: Path = Path("/proc/meminfo"), now: Callable[[], float] = time.monotonic
) -> bool:
    """Whether one syncfs(2) is a cheap way to flush our files now: it flushes every dirty
    page of the filesystem, so it is, unless the machine holds much unwritten data (say, a
    training job writing a checkpoint), whose flush fsyncs of our own files do not wait for.
    The answer is looked up at most once every LOOK_EVERY_SECONDS.
    """
    if _syncfs() is None:
        return False
    looked = _looked.get(meminfo)
    moment = now()
    if looked is not None and 0 <= moment - looked[0] < LOOK_EVERY_SECONDS:
        return looked[1]
    cheap = _dirty_bytes(meminfo) < CHEAP_DIRTY_BYTES
    _looked[meminfo] = (moment, cheap)
    return cheap


def _dirty_bytes(meminfo: Path) -> float:
    """Bytes written but not yet on disk (Dirty + Writeback); infinite if unknown."""
    try:
        text = meminfo.read_text()
    except OSError:
        return math.inf
    dirty = 0
    for line in text.splitlines():
        if line.startswith(("Dirty:", "Writeback:")):
            dirty += int(line.split()[1]) * 1024
    return dirty


def sync_filesystem(folder_fd: int) -> None:
    """Flush every file of the filesystem holding an open folder with one syncfs(2).

    Since Linux 5.8 syncfs reports any write-back error on that filesystem since the
    folder was opened, so a run whose bytes did not reach the disk is never published.
    """
    function = _syncfs()
    if function is None:
        raise OSError(errno.ENOSYS, "syncfs is not available")
    if function(folder_fd) != 0:
        import ctypes  # noqa: PLC0415 - loaded by _syncfs

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never blocks
# A temp file's open never follows a symlink planted under its name (it would write
# through it) nor blocks on a FIFO there (ENXIO): the open fails, the name is removed.
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def no_room(
    folder: Path, below: int, statvfs: Callable[[Path], os.statvfs_result] = os.statvfs
) -> str | None:
    """Why ``folder``'s disk takes no more files, when it takes none: ``read-only``, fewer
    than ``below`` bytes free to this process's user (``N bytes free``), or no file left to
    make (its inodes); None when it has room, or cannot tell (a size of 0: /proc, FUSE)."""
    try:
        disk = statvfs(folder)
    except OSError:
        return None
    if not disk.f_blocks:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return "read-only"
    if disk.f_files and not disk.f_favail:  # a filesystem without inodes says 0 files
        return "no file can be made"
    free = disk.f_bavail * disk.f_frsize
    return f"{free} bytes free" if free < below else None


def read_soon(path: str | Path) -> None:
    """Ask the disk for a file that read_regular will read soon, without waiting for it
    (posix_fadvise WILLNEED, where the system has it); any error is left to that read."""
    if not hasattr(os, "posix_fadvise"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, _READ_FLAGS)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """A small file of ours, read whole: never a symlink, a FIFO or a device, never more
    than ``max_bytes`` (OSError otherwise; opening never blocks)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        # O_NOFOLLOW's refusal; strerror said "Too many levels of symbolic links"
        raise OSError(errno.ELOOP, "a symlink, never followed", str(path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", str(path))
        # A buffer of the file's size, not of the limit (os.read allocates what it is asked
        # for: 1 GiB for a 4 kB record cost 20 us); a file grown since is read on to the limit.
        # A read of a regular file returns less than asked only at its end: then it is
        # whole, and no second read (of a buffer the size of the limit) is made.
        parts, size, want = [], 0, info.st_size + 1
        while size <= max_bytes and (part := os.read(fd, want)):
            parts.append(part)
            size += len(part)
            if len(part) < want:
                break
            want = max_bytes + 1 - size
        data = b"".join(parts)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", str(path))
    return data


# read_regular's refusals of a file that is not ours (not a regular file, a symlink, too
# big: EINVAL, ELOOP, EFBIG; a socket: ENXIO) and a file gone: any other error (no
# permission, no file handles, an I/O error) is the reader's, now, not the file's.
_NOT_OURS = frozenset({errno.EINVAL, errno.ELOOP, errno.EFBIG, errno.ENXIO, errno.ENOENT})


def not_ours(error: OSError) -> bool:
    """Whether read_regular's ``error`` says the file is not one of ours, or is gone (to
    pass over), rather than that it cannot be read now (to fail and try again)."""
    return error.errno in _NOT_OURS


def unreadable_now(path: str | Path, error: OSError, hint: str = "") -> ArchiveError:
    """The one line for a file that cannot be read now (``not not_ours(error)``)."""
    said = f"{path}: cannot be read now ({error.strerror or error})"
    return ArchiveError(f"{said}: {hint}" if hint else said)


def temp_name(path: Path) -> Path:
    """The temp file a durable write of ``path`` goes through (recovery removes strays)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_all(fd: int, data: bytes | Iterable[bytes]) -> None:
    for chunk in [data] if isinstance(data, bytes) else data:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def _no_step(_name: str) -> None:
    """A write's named steps pass unobserved (``Disk.step`` observes them)."""


def write_durably(
    path: Path,
    data: bytes | Iterable[bytes],
    *,
    staged: bool = False,
    sync: bool = True,
    step: Callable[[str], None] = _no_step,
    like: os.stat_result | None = None,
) -> None:
    """Write a whole file crash-safely: temp file in the same folder, fsync, rename, fsync.

    ``data`` may be an iterable of chunks (a large index is streamed, never held whole).
    ``staged=True`` is for files inside a run's staging folder: that folder is itself the
    temp (it is renamed into place as a whole), so the file is written under its own name
    and the caller fsyncs the folder once for all its files. ``sync=False`` leaves the
    flush to the caller (a group flushed with one syncfs) or, for derived files that can
    be rebuilt, to the kernel: the rename still makes the switch atomic. ``step`` is
    called with each named step (``write:NAME:written``, ``:synced``, ``:renamed``).
    ``like``: the stat of the file replaced, whose mode and owner the new one takes (as far
    as this process may give them) before it has a name anyone reads.
    """
    temp = path if staged else temp_name(path)
    try:
        fd = os.open(temp, _TEMP_FLAGS, 0o644)
        try:
            if like is not None:
                with contextlib.suppress(PermissionError):  # not root: our own, then
                    os.fchown(fd, like.st_uid, like.st_gid)
                os.fchmod(fd, stat.S_IMODE(like.st_mode))
            _write_all(fd, data)
            step(f"write:{path.name}:written")
            if sync:
                os.fsync(fd)
                step(f"write:{path.name}:synced")
        finally:
            os.close(fd)
        if not staged:
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if not staged:
        step(f"write:{path.name}:renamed")
        if sync:
            fsync_dir(path.parent)


def replace_small(path: Path, data: bytes, temp: Path) -> None:
    """Replace a small file that says something about now (status.json, the service's
    pid) by a rename, unsynced: never written through a symlink, a FIFO or a device at
    its name or ``temp``'s, which is removed if anything fails (OSError)."""
    try:
        fd = os.open(temp, _TEMP_FLAGS, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def append_durably(
    path: Path, line: bytes, *, sync: bool = True, step: Callable[[str], None] = _no_step
) -> tuple[int, int, int]:
    """Append newline-terminated records to a file and (unless ``sync=False``) fsync it.

    A torn last line left by a crash is closed off first so the new record starts clean.
    Returns (inode, size before, size after).
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        info = os.fstat(fd)
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            line = b"\n" + line
        _write_all(fd, line)
        step(f"append:{path.name}:written")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if info.st_size == 0 and sync:
        fsync_dir(path.parent)  # the file may be new: make its name durable too
    return info.st_ino, info.st_size, info.st_size + len(line)
