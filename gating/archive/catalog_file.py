"""The catalog's file: one SQLite connection per thread, its identity checked, read-only
for readers who may not write, and the transactions every catalog statement runs in."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gating.archive import catalog_schema
from gating.archive.catalog_failure import CatalogDamagedError, failure
from gating.archive.catalog_schema import SCHEMA_VERSION
from gating.archive.fresh_file import SIDECARS, make_new
from gating.errors import ArchiveError, ArgumentError

__all__ = ["CatalogFile", "immediate"]

_CHECKPOINT_PAGES = 3_000  # WAL pages a commit lets pile up before it checkpoints them
# A WAL grown past this (a rebuilt catalog copied in through it) is cut back to it once a
# checkpoint has emptied it; day to day it stays under ~12 MB (_CHECKPOINT_PAGES pages).
_WAL_LIMIT_BYTES = 32 * 1024 * 1024
_BUSY_MS = 30_000  # how long a statement waits for another connection's lock
_FOLD_WAIT_MS = 1_000  # how long folding a copied-in catalog waits for readers to let go
DEFAULT_FORMAT = (4096, "UTF-8")  # SQLite's page size and encoding (no catalog yet)
_ENCODINGS = ("UTF-8", "UTF-16le", "UTF-16be")  # what PRAGMA encoding may answer


@contextlib.contextmanager
def immediate(connection: sqlite3.Connection, *, keep: bool = True) -> Iterator[None]:
    """A write transaction: COMMIT when the block ends (ROLLBACK if it raises, or always
    when not ``keep``)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT" if keep else "ROLLBACK")


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, for an operator who may read the archive but not write it.

    While a writer has the catalog open its -wal and -shm files exist and are shared
    read-only; when none has, SQLite cannot create them in a folder we may not write,
    and nothing can change the file under us, so it is opened as immutable.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = _connect_uri(uri)
    try:
        connection.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError:
        connection.close()
        if Path(f"{path}-wal").exists():
            raise  # a writer has it open: its -shm should have served us
        return _connect_uri(uri + "&immutable=1")
    return connection


def _connect_uri(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(
        uri, uri=True, timeout=_BUSY_MS / 1000, isolation_level=None, check_same_thread=False
    )


def _identity(path: str) -> tuple[int, int] | None:
    """A file's (device, inode), or None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


@functools.cache
def _schema_names() -> frozenset[str]:
    """The names of every table, index and trigger a catalog of this version has."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with immediate(memory):
            catalog_schema.create(memory)
        rows = memory.execute("SELECT name FROM sqlite_schema").fetchall()
    finally:
        memory.close()
    return frozenset(name for (name,) in rows if not name.startswith("sqlite_"))


class CatalogFile:
    """The connections to one catalog file; the queries live in its subclasses."""

    def __init__(
        self,
        path: Path,
        *,
        durable: bool = True,
        full_sync: bool = False,
        nothing_archived: Callable[[], bool] = lambda: False,
    ) -> None:
        self.path = path
        self.durable = durable
        self.full_sync = full_sync
        self.nothing_archived = nothing_archived  # no run folder beside the catalog
        self._local = threading.local()
        # Each thread's connection, with the thread: one whose thread ended is closed by the
        # next thread to connect (a pool's idle threads come and go, and each left its
        # connection open: 20-40 files a burst of requests, until none were left).
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._generation = 0  # close() moves it on: each thread then closes its own
        self._guard = threading.Lock()
        self._reopened = False  # a connection found its file deleted, replaced or truncated

    # --- connections -----------------------------------------------------------------

    def _file_state(self) -> tuple[int, int, int] | None:
        """The catalog file's (device, inode, size), or None when there is none."""
        try:
            info = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):  # a file where the archive belongs
            return None
        return info.st_dev, info.st_ino, info.st_size

    def _still_the_file(self) -> bool:
        """Whether this thread's connection still has the catalog file open.

        A file deleted or replaced under it (another inode) or truncated (smaller than it
        was: SQLite never shrinks it here) is no longer the catalog, nor is one whose WAL
        was deleted or replaced (its connections went on in the deleted WAL, every other
        process in a new one: two catalogs that never met again); the reader must reopen.
        """
        seen: tuple[int, int, int] | None = getattr(self._local, "seen", None)
        now = self._file_state()
        if seen is None or now is None or now[:2] != seen[:2] or now[2] < seen[2]:
            return False
        wal = getattr(self._local, "wal", None)
        if wal is not None and _identity(f"{self.path}-wal") != wal:
            return False
        self._local.seen = now
        return True

    def _drop(self, connection: sqlite3.Connection, *, reopened: bool) -> None:
        """Close this thread's connection: to a file that is no longer the catalog
        (``reopened``: recovery looks again), or one that close() let go of."""
        with self._guard:
            self._connections = [(t, c) for t, c in self._connections if c is not connection]
            self._reopened = self._reopened or reopened
        connection.close()
        self._local.connection = None

    def refresh(self) -> bool:
        """Drop this thread's connection if its file is no longer the catalog.

        True when any connection of this object found that since the last call: the
        caller then recovers (another process may have rebuilt the file, or none has).
        """
        if getattr(self._local, "connection", None) is not None:
            try:
                self._connect()  # checks the file, and reopens it if it is no longer the catalog
            except CatalogDamagedError:
                self._reopened = True  # the reopened file is damaged: recovery rebuilds it
        with self._guard:
            reopened, self._reopened = self._reopened, False
        return reopened

    def _check_regular(self) -> None:
        """The catalog and its WAL and shared memory are regular files or none yet: through
        a symlink SQLite would write into the link's target (another program's database),
        and a directory or a FIFO cannot be one (a folder as the shared memory made every
        write fail as "readonly"), nor an empty catalog beside a WAL, nor a WAL without its
        catalog. Each is damage: recovery moves it away (or removes it) and rebuilds."""
        beside = [f"{self.path}{suffix}" for suffix in ("-wal", "-shm")]
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            if left := [path for path in beside if os.path.lexists(path)]:
                # Deleted under open connections: a new catalog would take in the old WAL.
                raise CatalogDamagedError(f"{self.path}: missing, but {left[0]} is there") from None
            return
        if not stat.S_ISREG(info.st_mode):
            raise CatalogDamagedError(f"{self.path}: not a regular file")
        for path in beside:  # SQLite would write through a symlink there too
            with contextlib.suppress(FileNotFoundError):
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise CatalogDamagedError(f"{path}: not a regular file")
        if info.st_size == 0 and any(os.path.lexists(path) for path in beside):
            # Never a catalog being made (its first page is written before its WAL exists):
            # one cut to nothing under open connections, whose locks on the WAL would make
            # every writer wait 30 s to open it. Recovery removes all three and rebuilds.
            raise CatalogDamagedError(f"{self.path}: cut to 0 bytes while its WAL remains")

    def stands_empty(self) -> bool:
        """No catalog file and nothing to build one from (no run folder): a query answers
        as an empty archive and writes nothing (a folder named by mistake is left as it
        is); the first write makes the catalog."""
        return not os.path.lexists(self.path) and self.nothing_archived()

    def _connect(self, *, create: bool = False) -> sqlite3.Connection | None:
        """This thread's connection to the catalog, opened if need be. Only a writer
        (``create``: recovery's check, a write) makes the file: a query finding none, one
        deleted under it, is CatalogDamagedError and has it rebuilt (SQLite made an empty
        catalog, answered as an archive with no runs, or a listing cut at a page)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            let_go = getattr(self._local, "generation", None) != self._generation  # close()
            if connection.in_transaction or (not let_go and self._still_the_file()):
                return connection
            self._drop(connection, reopened=not let_go)
        if not self.path.parent.is_dir():
            return None
        self._check_regular()
        if not create and self.stands_empty():
            return None  # no rows to answer with, and no file made for a query
        try:
            if not os.access(self.path.parent, os.W_OK, effective_ids=True):
                connection = _read_only(self.path)  # a reader without write access
            else:
                if create and not os.path.lexists(self.path):
                    make_new(self.path)
                # Each thread queries on its own connection; close() may come from another.
                # Never made here by SQLite (only whole, by make_new): one gone meanwhile fails.
                connection = _connect_uri(f"{self.path.resolve().as_uri()}?mode=rw")
                connection.execute("PRAGMA journal_mode=WAL")
                sync = "FULL" if self.full_sync else "NORMAL" if self.durable else "OFF"
                connection.execute(f"PRAGMA synchronous={sync}")
                connection.execute("PRAGMA recursive_triggers=ON")  # REPLACE fires deletes
                # A run one at a time rewrites ~22 pages, mostly the same ones (the tables'
                # last pages): checkpointing every 3,000 pages, not SQLite's 1,000, copies and
                # fsyncs them a third as often (~3% faster one at a time; 10,000 slowed group
                # commits, whose checkpoints are all new pages). The WAL grows to ~12 MB.
                connection.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
                connection.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                self._set_up(connection, version)
        except sqlite3.DatabaseError as error:
            if not create and not self.path.exists():
                raise CatalogDamagedError(f"{self.path}: missing (deleted?)") from None
            raise self._read_failed(error) from None
        self._local.connection = connection
        self._local.generation = self._generation
        self._local.seen = self._file_state()
        self._local.wal = _identity(f"{self.path}-wal")  # held open by this connection now
        self._keep(connection)
        return connection

    def _keep(self, connection: sqlite3.Connection) -> None:
        """Keep this thread's new connection; close those whose threads have ended."""
        with self._guard:
            ended = [c for t, c in self._connections if not t.is_alive()]
            self._connections = [(t, c) for t, c in self._connections if t.is_alive()]
            self._connections.append((threading.current_thread(), connection))
        for old in ended:
            old.close()

    def _set_up(self, connection: sqlite3.Connection, version: int) -> None:
        """Create a new catalog's tables; another version is damage (rebuilt)."""
        if version != 0:
            connection.close()
            raise CatalogDamagedError(f"{self.path}: schema {version}, expected {SCHEMA_VERSION}")
        with immediate(connection):
            if connection.execute("PRAGMA user_version").fetchone()[0] == 0:  # under the lock
                catalog_schema.create(connection)

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Iterator[Any]:
        connection = self._connect()
        if connection is None:
            return
        try:
            yield from connection.execute(sql, params)
        except sqlite3.DatabaseError as error:
            raise self._read_failed(error) from None

    def _read_failed(self, error: sqlite3.DatabaseError) -> ArchiveError | ArgumentError:
        """What a failed open or query means (see ``failure``)."""
        return failure(self.path, error)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return next(self._rows(sql, params), None)

    def close(self) -> None:
        """Close this thread's connection and those of threads that have ended; every other
        thread closes its own at its next use (closing a connection another thread was
        reading from crashed the process), and then opens the file anew."""
        me = threading.current_thread()
        with self._guard:
            self._generation += 1
            mine = [c for t, c in self._connections if t is me or not t.is_alive()]
            self._connections = [
                (t, c) for t, c in self._connections if t is not me and t.is_alive()
            ]
        for connection in mine:
            connection.close()
        self._local.connection = None

    def destroy(self) -> None:
        """Delete a damaged catalog's files (the database and its WAL and shared memory).

        A symlink is removed, never its target; a directory in a file's place is moved
        aside (``NAME.moved-aside-NANOSECONDS``), not deleted: it is not ours.
        """
        self.close()
        for suffix in ("", *SIDECARS):
            path = Path(f"{self.path}{suffix}")
            if path.is_dir() and not path.is_symlink():
                path.rename(path.with_name(f"{path.name}.moved-aside-{time.time_ns()}"))
            else:
                path.unlink(missing_ok=True)

    def replace_with(self, fresh: sqlite3.Connection) -> None:
        """Copy a catalog built in another file over this one, in one write transaction
        (SQLite's backup API: readers see the old catalog until it commits, then the new;
        no file is swapped under a reader's WAL). Then the WAL is folded back in, unless
        a reader holds it still (a later checkpoint does it then)."""
        connection = self._writable()
        try:
            fresh.backup(connection)
        except sqlite3.DatabaseError as error:
            raise self._write_failed(error) from None
        # A reader in a long transaction holds the WAL: not waited for (a service's worker
        # would stall), a later checkpoint empties it and journal_size_limit cuts it back.
        with contextlib.suppress(sqlite3.DatabaseError):
            connection.execute(f"PRAGMA busy_timeout={_FOLD_WAIT_MS}")
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                connection.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        self._local.seen = self._file_state()

    def file_format(self) -> tuple[int, str]:
        """The catalog file's page size and text encoding: a catalog copied over it (by
        SQLite's backup, into a WAL file) must have the same."""
        size, encoding = self._one("PRAGMA page_size"), self._one("PRAGMA encoding")
        return (
            DEFAULT_FORMAT[0] if size is None else int(size[0]),
            str(encoding[0]) if encoding and encoding[0] in _ENCODINGS else DEFAULT_FORMAT[1],
        )

    def check(self) -> None:
        """Open the catalog and check it has every table, index and trigger of its schema
        (CatalogDamagedError if it is unusable or lacks one: a query would fail on it)."""
        if self._connect(create=True) is None:
            return
        present = {row[0] for row in self._rows("SELECT name FROM sqlite_schema")}
        missing = sorted(_schema_names() - present)
        if missing:
            raise CatalogDamagedError(f"{self.path}: it has no {', '.join(missing)}")

    # --- writing ---------------------------------------------------------------------

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run each statement over its rows, all in one transaction."""

        def work(connection: sqlite3.Connection) -> None:
            for sql, rows in statements:
                connection.executemany(sql, rows)

        self._transaction(work)

    def _writable(self) -> sqlite3.Connection:
        """This thread's connection, for a write (the archive folder must exist)."""
        connection = self._connect(create=True)
        if connection is None:
            raise ArchiveError(f"{self.path.parent}: the archive folder does not exist")
        return connection

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` on the connection in one transaction."""
        connection = self._writable()
        try:
            with immediate(connection):
                work(connection)
        except sqlite3.DatabaseError as error:
            raise self._write_failed(error) from None

    def _write_failed(self, error: sqlite3.DatabaseError) -> ArchiveError:
        """What a failed write means: the disk or a lock (ArchiveError, retried later), or a
        damaged file (CatalogDamagedError, rebuilt)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and error.sqlite_errorname.startswith("SQLITE_READONLY"):
            # Opened while the file could not be written (immutable, a read-only mount),
            # SQLite keeps it read-only for good: the next write opens it anew.
            self._drop(connection, reopened=False)
        if isinstance(error, sqlite3.OperationalError):
            return ArchiveError(f"{self.path}: cannot write the catalog: {error}")
        return CatalogDamagedError(f"{self.path}: {error}")

    def _rolled_back(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` in a transaction that is always rolled back; return its result."""
        connection = self._writable()
        try:
            with immediate(connection, keep=False):
                return work(connection)
        except sqlite3.DatabaseError as error:
            raise failure(self.path, error) from None
