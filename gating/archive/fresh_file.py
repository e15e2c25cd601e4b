"""Fresh catalog files, made beside the live one and held under a flock while they live."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from pathlib import Path

from gating.archive import catalog_schema
from gating.archive.layout import fresh_name
from gating.errors import ArchiveError

__all__ = ["being_built", "claim", "clear", "make_new"]


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
    """Remove a fresh file's name, whatever stands there (a directory is litter: ours)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def being_built(path: str) -> bool:
    """Whether a fresh catalog file is still being filled: its builder holds a flock on it
    for as long as it lives (``reindex`` fills one without the writer lock, while other
    writers recover and sweep litter). Anything that cannot be opened and locked is not."""
    try:
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
    try:
        fresh, guard = claim(path.parent)
    except OSError as error:
        raise ArchiveError(f"{path}: cannot make the catalog: {error.strerror}") from None
    try:
        connection = sqlite3.connect(fresh, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("BEGIN IMMEDIATE")
            catalog_schema.create(connection)
            connection.execute("COMMIT")
        finally:
            connection.close()
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not os.path.lexists(path):
                os.rename(fresh, path)
    finally:
        clear(fresh)
        os.close(guard)
