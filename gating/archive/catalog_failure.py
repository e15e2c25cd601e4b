"""What a failed SQLite open or statement on the catalog means: damage (rebuilt from the
run folders) or a passing state of the disk or the process (left as it is)."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from gating.archive.durable import no_room
from gating.errors import ArchiveError, ArgumentError

__all__ = ["CatalogDamagedError", "failure"]


class CatalogDamagedError(ArchiveError):
    """The catalog file is unreadable or of another schema: it must be rebuilt."""


def _out_of_files() -> bool:
    """Whether this process can open no more files now (EMFILE or ENFILE)."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    except OSError as error:
        return error.errno in (errno.EMFILE, errno.ENFILE)
    return False


# SQLite's errors that say nothing about the file: a full or failing disk (a -shm that
# cannot grow is SQLITE_IOERR_SHMSIZE), no memory, a lock, an interrupt.
_PASSING = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_NOMEM", "SQLITE_BUSY", "SQLITE_LOCKED",
            "SQLITE_INTERRUPT")  # fmt: skip
# A statement's arguments of the wrong type ("datatype mismatch", a parameter out of range).
_ASKED = ("SQLITE_MISMATCH", "SQLITE_RANGE")
# ... but a short read says the file is: shorter than its shared memory says (its WAL
# deleted under open connections, or the file cut short). Damage: rebuilt.
_SHORT = "SQLITE_IOERR_SHORT_READ"


def _free(path: Path) -> str:
    """``; its disk: N bytes free`` when its disk is nearly full (or read-only, or out of
    inodes), else nothing."""
    room = no_room(path.parent, _NEARLY_FULL_BYTES)
    return "" if room is None else f"; its disk: {room}"


_NEARLY_FULL_BYTES = 16 * 1024 * 1024


def failure(path: Path, error: sqlite3.DatabaseError) -> ArchiveError | ArgumentError:
    """What a failed open or statement means: damage (CatalogDamagedError: the file is
    rebuilt from the run folders), or a passing state of the disk or the process
    (ArchiveError: the file is left as it is; a rebuild would fail as well, and a query on
    a full disk deleted a sound catalog). SQLite says only "unable to open database
    file" when the process can open no more files: that is passing too."""
    name = getattr(error, "sqlite_errorname", None) or ""
    binding = isinstance(error, sqlite3.InterfaceError | sqlite3.ProgrammingError) and (
        "binding" in str(error)  # "Error binding parameter 1", "Incorrect number of bindings"
    )
    if binding or name in _ASKED:
        # A statement given what it cannot take (a float for a LIMIT, a Path to bind): the
        # call's fault, never the file's (the catalog was rebuilt for each such call).
        return ArgumentError(f"{path}: a query could not take its arguments: {error}")
    if name.startswith(_PASSING) and name != _SHORT:
        return ArchiveError(f"{path}: cannot be used now: {error} ({name}{_free(path)})")
    if isinstance(error, sqlite3.OperationalError) and _out_of_files():
        return ArchiveError(f"{path}: cannot be used now: too many open files")
    return CatalogDamagedError(f"{path}: {error}")
