"""Fresh catalog files, made beside the live one and held under a flock while they live."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sqlite3
from pathlib import Path

from gating.archive import catalog_schema
from gating.archive.layout import fresh_name
from gating.errors import ArchiveError

__all__ = ["SIDECARS", "being_built", "claim", "clear", "make_new"]

SIDECARS = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a database
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP})  # vfat, some FUSE
_ATTEMPTS = 5  # a fresh file swept away (its flock let go) before it got its name


def claim(folder: Path) -> tuple[Path, int]:
    """A new fresh file in ``folder`` under a name of its own, and the descriptor holding
    its flock.

    The file is created and locked before SQLite opens it, and its name checked to still
    be the locked file: a recovery looking at it in between removes only what it could
    lock, and then this tries another name."""
    while True:
        path = folder / fresh_name()
        clear(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return path, fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def clear(path: Path) -> None:
    """Remove a fresh file's name, whatever stands there (a directory is litter: ours),
    and the files SQLite kept beside it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    for suffix in SIDECARS:
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{suffix}")


def being_built(path: str) -> bool:
    """Whether a fresh catalog file (or a file SQLite keeps beside one) is still being
    filled: its builder holds a flock on it for as long as it lives (``reindex`` fills one
    without the writer lock, while other writers recover and sweep litter). Anything that
    cannot be opened and locked is not, nor is one linked into place as the catalog (a
    crash before its fresh name was removed): that one is never opened, since closing a
    descriptor of the live catalog's file drops every SQLite lock this process holds on it."""
    for suffix in SIDECARS:
        path = path.removesuffix(suffix)
    try:
        if os.lstat(path).st_nlink > 1:
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # and with it the lock just taken
    return False


def make_new(path: Path) -> None:
    """Make a new catalog at ``path``, its tables made and in WAL mode, under a fresh name
    first: no other connection ever opens one half made. (Made in place, readers switched
    it to WAL at the same time as its writer, and SQLite refused one at once with
    SQLITE_BUSY, without waiting.) A catalog another writer made first is kept."""
    for _ in range(_ATTEMPTS):
        try:
            fresh = _made(path.parent)
        except (OSError, sqlite3.DatabaseError) as error:
            said = error.strerror if isinstance(error, OSError) else error
            raise ArchiveError(f"{path}: cannot make the catalog: {said}") from None
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass  # another writer made it first
        except FileNotFoundError:
            continue  # swept as litter between its flock and its name: made again
        except OSError as error:
            if error.errno not in _NO_HARD_LINKS:
                raise ArchiveError(f"{path}: cannot make the catalog: {error.strerror}") from None
            if not os.path.lexists(path):
                os.rename(fresh, path)
        finally:
            clear(fresh)
        return
    raise ArchiveError(f"{path}: cannot make the catalog: its fresh file was removed meanwhile")


def _made(folder: Path) -> Path:
    """A fresh file in ``folder`` holding a new catalog's tables, in WAL mode.

    The tables go in through SQLite's rollback journal, whose commit fails loudly on a
    full disk (a WAL's checkpoint as the connection closed failed without a word, and a
    torn file got the catalog's name). The flock is let go before the file is named:
    closing a descriptor of the live catalog's file would drop this process's SQLite
    locks on it."""
    fresh, guard = claim(folder)
    try:
        connection = sqlite3.connect(fresh, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            catalog_schema.create(connection)
            connection.execute("COMMIT")
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        finally:
            connection.close()
        if mode != "wal" or any(os.path.lexists(f"{fresh}{s}") for s in SIDECARS):
            raise sqlite3.OperationalError("it could not be put in WAL mode")
    except BaseException:
        clear(fresh)
        raise
    finally:
        os.close(guard)
    return fresh
