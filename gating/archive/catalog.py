"""The SQLite query catalog: runs, models and damaged folders; every SQL statement lives here.

The catalog is derived data: each run is added in the step that publishes its folder,
and `rebuild` makes it again from the run folders alone. A PostgreSQL catalog for teams
with several hosts would be a second class with these methods.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gating.archive import catalog_schema
from gating.archive.catalog_rows import RunRow, entry_rows, history_record, run_line
from gating.archive.catalog_schema import SCHEMA_VERSION
from gating.archive.catalog_verdicts import (
    UNDECIDED,
    VerdictQueries,
    bounds_statements,
    insert_decisions,
    paged,
    verdict_suffix,
)
from gating.errors import ArchiveError
from gating.verdicts import Decision

__all__ = ["SCHEMA_VERSION", "Catalog", "CatalogDamagedError", "RunRow"]

_BATCH = 5000  # model rows inserted at once by a rebuild
_BUILT = "built"  # set once the catalog holds every run folder (a rebuild sets it)


@contextlib.contextmanager
def _immediate(connection: sqlite3.Connection, *, keep: bool = True) -> Iterator[None]:
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
    for suffix in ("", "&immutable=1"):
        connection = sqlite3.connect(
            uri + suffix, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError:
            connection.close()
            if suffix or Path(f"{path}-wal").exists():
                raise
            continue
        return connection
    raise AssertionError("unreachable")  # pragma: no cover


class CatalogDamagedError(ArchiveError):
    """The catalog file is unreadable or of another schema: it must be rebuilt."""


class Catalog(VerdictQueries):
    """One archive's SQLite catalog; each thread gets its own connection.

    Opening never creates the archive folder: a catalog of an archive that does not
    exist yet answers every query with nothing. SQLite errors that mean a damaged file
    come out as CatalogDamagedError.
    """

    def __init__(self, path: Path, *, durable: bool = True, full_sync: bool = False) -> None:
        self.path = path
        self.durable = durable
        self.full_sync = full_sync
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._reopened = False  # a connection found its file deleted, replaced or truncated

    # --- connections -----------------------------------------------------------------

    def _file_state(self) -> tuple[int, int, int] | None:
        """The catalog file's (device, inode, size), or None when there is none."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino, info.st_size

    def _still_the_file(self) -> bool:
        """Whether this thread's connection still has the catalog file open.

        A file deleted or replaced under it (another inode) or truncated (smaller than it
        was: SQLite never shrinks it here) is no longer the catalog; the reader must reopen.
        """
        seen: tuple[int, int, int] | None = getattr(self._local, "seen", None)
        now = self._file_state()
        if seen is None or now is None or now[:2] != seen[:2] or now[2] < seen[2]:
            return False
        self._local.seen = now
        return True

    def _drop(self, connection: sqlite3.Connection) -> None:
        """Close this thread's connection to a file that is no longer the catalog."""
        with self._guard:
            if connection in self._connections:
                self._connections.remove(connection)
            self._reopened = True
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

    def _connect(self) -> sqlite3.Connection | None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            if connection.in_transaction or self._still_the_file():
                return connection
            self._drop(connection)
        if not self.path.parent.is_dir():
            return None
        try:
            if not os.access(self.path.parent, os.W_OK, effective_ids=True):
                connection = _read_only(self.path)  # a reader without write access
            else:
                # Each thread queries on its own connection; close() may come from another.
                connection = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                sync = "FULL" if self.full_sync else "NORMAL" if self.durable else "OFF"
                connection.execute(f"PRAGMA synchronous={sync}")
                connection.execute("PRAGMA recursive_triggers=ON")  # REPLACE fires deletes
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                self._set_up(connection, version)
        except sqlite3.DatabaseError as error:
            raise CatalogDamagedError(f"{self.path}: {error}") from None
        self._local.connection = connection
        self._local.seen = self._file_state()
        with self._guard:
            self._connections.append(connection)
        return connection

    def _set_up(self, connection: sqlite3.Connection, version: int) -> None:
        """Create a new catalog's tables or upgrade an older one; another version is damage."""
        if version != 0 and not catalog_schema.upgradable(version):
            connection.close()
            raise CatalogDamagedError(f"{self.path}: schema {version}, expected {SCHEMA_VERSION}")
        with _immediate(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # under the lock
            if version == 0:
                catalog_schema.create(connection)
            elif catalog_schema.upgradable(version):
                catalog_schema.upgrade(connection, version)

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Iterator[Any]:
        connection = self._connect()
        if connection is None:
            return
        try:
            yield from connection.execute(sql, params)
        except sqlite3.DatabaseError as error:
            raise CatalogDamagedError(f"{self.path}: {error}") from None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return next(self._rows(sql, params), None)

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._guard:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def destroy(self) -> None:
        """Delete a damaged catalog's files (the database and its WAL and shared memory)."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def check(self) -> None:
        """Open the catalog and read its header (CatalogDamagedError if it is unusable)."""
        self._one("SELECT count(*) FROM meta")

    # --- writing ---------------------------------------------------------------------

    def _write(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run each statement over its rows, all in one transaction."""

        def work(connection: sqlite3.Connection) -> None:
            for sql, rows in statements:
                connection.executemany(sql, rows)

        self._transaction(work)

    def _writable(self) -> sqlite3.Connection:
        """This thread's connection, for a write (the archive folder must exist)."""
        connection = self._connect()
        if connection is None:
            raise ArchiveError(f"{self.path.parent}: the archive folder does not exist")
        return connection

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` on the connection in one transaction."""
        connection = self._writable()
        try:
            with _immediate(connection):
                work(connection)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):
                raise ArchiveError(f"{self.path}: cannot write the catalog: {error}") from None
            raise CatalogDamagedError(f"{self.path}: {error}") from None

    def _rolled_back(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` in a transaction that is always rolled back; return its result."""
        connection = self._writable()
        try:
            with _immediate(connection, keep=False):
                return work(connection)
        except sqlite3.DatabaseError as error:
            raise CatalogDamagedError(f"{self.path}: {error}") from None

    def add_runs(self, entries: Sequence[dict[str, Any]]) -> None:
        """Add published runs (index entries), all in one transaction."""
        runs: list[RunRow] = []
        models: list[tuple[str, str, int, str, str]] = []
        for entry in entries:
            run, rows = entry_rows(entry)
            runs.append(run)
            models.extend(rows)
        self._write(
            [
                ("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", runs),
                ("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?)", models),
                *bounds_statements(entries),
            ]
        )

    def add_damaged(self, damaged: Sequence[tuple[str, str | None, str]]) -> None:
        """Record run folders that cannot be read: (timestamp, sha256 or None, reason)."""
        self._write([("INSERT OR REPLACE INTO damaged VALUES (?, ?, ?)", damaged)])

    def set_meta(self, key: str, value: str) -> None:
        """Keep a small fact about the derived files (say, what index.json holds)."""
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])])

    def rebuild(
        self,
        entries: Iterable[dict[str, Any]],
        damaged: Iterable[tuple[str, str | None, str]],
        decisions: Iterable[Decision] = (),
    ) -> int:
        """Replace every run and decision in one transaction; return how many runs were added.

        Readers keep seeing the old catalog until the rebuild commits. Two folders with
        the same summary bytes: the later one is recorded as damaged (a duplicate).
        """
        connection = self._writable()
        count = 0
        try:
            with _immediate(connection):
                for table in ("runs", "models", "damaged", "decisions", "verdicts", "run_bounds"):
                    connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                models: list[tuple[str, str, int, str, str]] = []
                bounded: list[dict[str, Any]] = []  # runs whose bounds are kept with models
                for entry in entries:
                    run, rows = entry_rows(entry)
                    added = connection.execute(
                        "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", run
                    )
                    if added.rowcount == 0:  # the sha256 index holds an earlier run
                        owner = connection.execute(
                            "SELECT timestamp FROM runs WHERE sha256 = ?", (run[1],)
                        ).fetchone()
                        reason = f"the same summary as run {owner[0] if owner else '?'}"
                        connection.execute(
                            "INSERT OR REPLACE INTO damaged VALUES (?, ?, ?)",
                            (run[0], run[1], reason),
                        )
                        continue
                    models.extend(rows)
                    bounded.append(entry)
                    if len(models) >= _BATCH:
                        connection.executemany("INSERT INTO models VALUES (?, ?, ?, ?, ?)", models)
                        for sql, values in bounds_statements(bounded):
                            connection.executemany(sql, values)
                        models.clear()
                        bounded.clear()
                    count += 1
                connection.executemany("INSERT INTO models VALUES (?, ?, ?, ?, ?)", models)
                for sql, values in bounds_statements(bounded):
                    connection.executemany(sql, values)
                connection.executemany("INSERT OR REPLACE INTO damaged VALUES (?, ?, ?)", damaged)
                insert_decisions(connection, decisions)
                connection.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (_BUILT,))
        except sqlite3.DatabaseError as error:
            raise CatalogDamagedError(f"{self.path}: {error}") from None
        return count

    # --- reading ---------------------------------------------------------------------

    def is_built(self) -> bool:
        """Whether the catalog was ever filled from the run folders (an empty new file is not)."""
        return self.meta(_BUILT) == "1"

    def meta(self, key: str) -> str | None:
        """A fact set by set_meta, or None."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def owner_of(self, sha256: str) -> str | None:
        """The run (or damaged folder) that holds these summary bytes, if any."""
        row = self._one(
            "SELECT timestamp FROM runs WHERE sha256 = ?1 "
            "UNION ALL SELECT timestamp FROM damaged WHERE sha256 = ?1 LIMIT 1",
            (sha256,),
        )
        return None if row is None else str(row[0])

    def latest(self) -> str | None:
        """The newest run's timestamp."""
        row = self._one("SELECT max(timestamp) FROM runs")
        return None if row is None or row[0] is None else str(row[0])

    def counts(self) -> tuple[int, int]:
        """How many runs and how many damaged folders the catalog holds."""
        runs = self._one("SELECT runs FROM tallies")
        damaged = self._one("SELECT count(*) FROM damaged")
        return (0 if runs is None else int(runs[0]), 0 if damaged is None else int(damaged[0]))

    def totals(self) -> tuple[int, int, int, int, str | None]:
        """Runs, models APPROVED, REVIEW and DROP by the gate, and the newest run's timestamp
        (read from the tallies: no run is counted)."""
        row = self._one("SELECT runs, approved, review, dropped FROM tallies")
        if row is None:
            return 0, 0, 0, 0, None
        runs, approved, review, dropped = row
        return int(runs), int(approved), int(review), int(dropped), self.latest()

    def known(self, timestamps: Sequence[str]) -> set[str]:
        """Which of these folder names are in the catalog (as runs or as damaged)."""
        found: set[str] = set()
        for start in range(0, len(timestamps), 500):
            chunk = list(timestamps[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            sql = (
                f"SELECT timestamp FROM runs WHERE timestamp IN ({marks}) "  # noqa: S608
                f"UNION ALL SELECT timestamp FROM damaged WHERE timestamp IN ({marks})"
            )
            found.update(row[0] for row in self._rows(sql, chunk + chunk))
        return found

    def damaged(self) -> list[tuple[str, str]]:
        """(timestamp, reason) of every damaged run folder, oldest first."""
        return [
            (str(t), str(r))
            for t, r in self._rows("SELECT timestamp, reason FROM damaged ORDER BY timestamp")
        ]

    def runs(self, last: int | None = None) -> Iterator[RunRow]:
        """Every run's row, oldest first (only the newest ``last`` when given)."""
        columns = "timestamp, sha256, run_id, source, approved, review, dropped"
        if last is None:
            sql = f"SELECT {columns} FROM runs WHERE timestamp > ? ORDER BY timestamp LIMIT ?"  # noqa: S608
            yield from paged(
                lambda after: list(self._rows(sql, (*after, self.page))),
                ("",),
                lambda row: (row[0],),
                self.page,
            )
            return
        newest = list(
            self._rows(f"SELECT {columns} FROM runs ORDER BY timestamp DESC LIMIT ?", (last,))  # noqa: S608
        )
        yield from reversed(newest)

    def run(self, timestamp: str) -> RunRow | None:
        """One run's row."""
        row: RunRow | None = self._one(
            "SELECT timestamp, sha256, run_id, source, approved, review, dropped "
            "FROM runs WHERE timestamp = ?",
            (timestamp,),
        )
        return row

    def run_models(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, classification) of one run's models, in summary order."""
        return [
            (str(symbol), str(classification))
            for symbol, classification in self._rows(
                "SELECT symbol, classification FROM models WHERE timestamp = ? ORDER BY position",
                (timestamp,),
            )
        ]

    def history(self, symbol: str, last: int | None = None) -> Iterator[bytes]:
        """A symbol's history records as JSON, oldest first (the newest ``last`` when given).

        Each record ends with the model's verdict and the decision that made it (or null).
        """
        sql = (
            "SELECT m.timestamp, r.run_id, m.body, m.classification FROM models AS m "
            "JOIN runs AS r ON r.timestamp = m.timestamp WHERE m.symbol = ? "
        )
        decided = self.decided_suffixes(symbol)  # few: read once, not joined per record
        if last is None:
            rows: Iterable[Any] = paged(
                lambda after: list(
                    self._rows(sql + "AND m.timestamp > ? ORDER BY m.timestamp LIMIT ?",
                               (symbol, *after, self.page))
                ),
                ("",),
                lambda row: (row[0],),
                self.page,
            )  # fmt: skip
        else:
            rows = reversed(
                list(self._rows(sql + "ORDER BY m.timestamp DESC LIMIT ?", (symbol, last)))
            )
        for timestamp, run_id, body, classification in rows:
            tail = decided.get(timestamp) or UNDECIDED.get(classification)
            if tail is None:
                tail = verdict_suffix(classification, None)
            yield history_record(timestamp, run_id, body, tail)

    def history_count(self, symbol: str) -> int:
        """How many runs gated ``symbol``."""
        row = self._one("SELECT count(*) FROM models WHERE symbol = ?", (symbol,))
        return 0 if row is None else int(row[0])

    def symbols(self) -> list[str]:
        """Every symbol that was ever gated, sorted."""
        return [
            str(row[0]) for row in self._rows("SELECT DISTINCT symbol FROM models ORDER BY symbol")
        ]

    def index_lines(self) -> Iterator[bytes]:
        """Every run's index.json line, oldest first, streamed."""
        current: RunRow | None = None
        models: list[tuple[str, str]] = []
        for *run, symbol, body in self._rows(
            "SELECT r.timestamp, r.sha256, r.run_id, r.source, r.approved, r.review, r.dropped, "
            "m.symbol, m.body FROM runs AS r JOIN models AS m ON m.timestamp = r.timestamp "
            "ORDER BY r.timestamp, m.position"
        ):
            if current is not None and run[0] != current[0]:
                yield run_line(current, models)
                models = []
            current = tuple(run)
            models.append((symbol, body))
        if current is not None:
            yield run_line(current, models)
