"""Rebuilding the catalog from the run folders (reindex, and recovery of a lost catalog).

A fresh catalog file is built beside the live one, as git builds a new packed-refs file
before it renames it: the run folders' names are sorted in a temporary table (a million
of them are never listed in memory), their records are parsed by other processes
(gating.archive.parsing) while this one inserts the rows, and the finished file is copied
over the live catalog with SQLite's backup API in one write transaction. A reader sees the
old catalog or the new one, never a mix, and no file is ever swapped under a reader's WAL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from gating.archive import catalog_schema
from gating.archive.catalog_verdicts import insert_decisions
from gating.archive.fresh_file import claim, clear
from gating.archive.layout import Layout
from gating.archive.parsing import DamagedRun, RunRows, parse_all, parse_runs
from gating.errors import ArchiveError, ReindexCancelledError
from gating.progress import Progress

if TYPE_CHECKING:
    from gating.archive.catalog import Catalog

__all__ = ["FreshCatalog", "insert_rows", "rebuild_catalog"]

_CHUNK = 500  # run folders parsed and inserted at a time
_CACHE_KIB = 65536  # the fresh file's page cache: the same at any archive size
_BUILT = "built"  # meta: the catalog holds every run folder
# The fresh file is written once and copied: no journal, no fsync (the copy is durable).
_PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{_CACHE_KIB}",
            "temp_store=FILE", "recursive_triggers=ON")  # fmt: skip


class _Listing:
    """How many run folder names, and an order-free digest of them (in one process)."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = 0
        self.newest: str | None = None

    def add(self, name: str) -> str:
        """Count one more name; return it."""
        self.count += 1
        self.digest = (self.digest + hash(name)) & 0xFFFF_FFFF_FFFF_FFFF
        if self.newest is None or name > self.newest:
            self.newest = name
        return name


class FreshCatalog:
    """A catalog file built beside the live one from the run folders, then swapped in.

    ``fill`` reads the run folders and needs no lock; ``catch_up`` and ``swap_in`` run
    under the writer lock. Recovery does all three under the lock. ``reindex`` fills
    without it the folders up to ``upto`` (the catalog's newest run as it began: writers
    only add later ones, so they go on archiving meanwhile), and catches up with the rest.
    The builder holds a flock on the file while it lives: recovery removes only a fresh
    file nobody holds (its builder is gone).
    """

    def __init__(self, layout: Layout, catalog: Catalog, upto: str | None = None) -> None:
        self.layout = layout
        self.count = 0
        self.damaged: list[DamagedRun] = []
        self._upto = upto
        self._listed = _Listing()
        self._format = _format_of(catalog)  # backup copies into the same format only
        self.path, self._guard = claim(layout.root)
        page_size, encoding = self._format
        with self._failing():
            try:
                # Filled on one thread and swapped in on another (the service's reader and
                # worker), one after the other: never two at once.
                self.connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                for pragma in (f"page_size={page_size}", f"encoding='{encoding}'", *_PRAGMAS):
                    self.connection.execute(f"PRAGMA {pragma}")
                self.connection.execute("BEGIN")
                catalog_schema.create(self.connection)
            except BaseException:
                self.__exit__()
                raise

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """The fresh file failing (a full disk, say) is one ArchiveError line."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            raise ArchiveError(f"{self.path}: cannot build the catalog afresh: {error}") from None

    def __enter__(self) -> FreshCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()
        clear(self.path)
        os.close(self._guard)  # after the name is gone: nobody removes a file of ours

    def _mine(self, name: str) -> bool:
        """Whether ``fill`` reads this run folder (``catch_up`` reads the others)."""
        return self._upto is None or name <= self._upto

    def fill(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> None:
        """Read the run folders into the file (ReindexCancelledError once ``cancelled()``)."""
        names = (self._listed.add(n) for n in self.layout.run_names() if self._mine(n))
        with self._failing():
            total = _sort_names(self.connection, names, cancelled)
            # Closed here, not when collected: that stops the parsing processes even while
            # a failure's traceback (kept by the service's reading thread) holds the frame.
            with contextlib.closing(
                parse_all(self.layout, _chunks(self.connection), total)
            ) as chunks:
                self.count, self.damaged = _fill(
                    self.connection, chunks, total, progress, cancelled
                )

    def catch_up(self, catalog: Catalog) -> bool:
        """Add the run folders ``fill`` did not read (under the writer lock).

        False when its work no longer fits: a folder it read was removed, one it would
        have read was added, or the catalog was made anew in another page size; then only
        filling again gives the right catalog."""
        listed, now, newer = self._listed, _Listing(), []
        upto = self._upto if self._upto is not None else listed.newest
        for name in self.layout.run_names():
            if upto is not None and name <= upto:
                now.add(name)
            else:
                newer.append(name)
        if (now.count, now.digest) != (listed.count, listed.digest):
            return False
        if _format_of(catalog) != self._format:
            return False
        parsed = parse_runs(str(self.layout.root), sorted(newer))
        self.damaged.extend(item for item in parsed if isinstance(item, DamagedRun))
        good = [item for item in parsed if isinstance(item, RunRows)]
        with self._failing():
            self.count += insert_rows(self.connection, good, self.damaged)
        return True

    def swap_in(self, catalog: Catalog) -> tuple[int, list[tuple[str, str]]]:
        """Add the decisions and commit the file, then copy it over the live catalog in one
        write transaction (under the writer lock); return (runs, damaged folders)."""
        from gating.archive.decisions import read_decisions  # noqa: PLC0415 - rebuilds only

        fresh = self.connection
        decisions, kept = read_decisions(self.layout), _kept_meta(catalog)
        with self._failing():
            fresh.executemany("INSERT OR REPLACE INTO damaged VALUES (?, ?, ?)", self.damaged)
            insert_decisions(fresh, decisions)
            fresh.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", kept)
            fresh.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (_BUILT,))
            fresh.execute("DROP TABLE temp.names")
            fresh.execute("COMMIT")
        catalog.replace_with(fresh)
        return self.count, [(d.timestamp, d.reason) for d in self.damaged]


def rebuild_catalog(
    layout: Layout,
    catalog: Catalog,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[int, list[tuple[str, str]]]:
    """Refill the catalog from the run folders and decisions/, all under the writer lock:
    (runs added, damaged folders).

    Two folders with the same summary bytes: the later one is recorded as damaged (a
    duplicate). When ``cancelled()`` turns true the rebuild stops and the catalog stays as
    it was (ReindexCancelledError).
    """
    with FreshCatalog(layout, catalog) as fresh:
        fresh.fill(progress, cancelled)
        return fresh.swap_in(catalog)


def _format_of(catalog: Catalog) -> tuple[int, str]:
    """The live catalog's page size and text encoding, which the fresh file must share
    (SQLite's default where the live one cannot be read)."""
    from gating.archive.catalog_file import DEFAULT_FORMAT  # noqa: PLC0415 - a cycle

    try:
        return catalog.file_format()
    except ArchiveError:  # damaged, or on a failing disk: a rebuild is the way out
        return DEFAULT_FORMAT


def _kept_meta(catalog: Catalog) -> list[tuple[str, str]]:
    """The live catalog's facts about the derived files (what index.json holds, still true
    of that file), if it can be read."""
    try:
        return catalog.meta_items()
    except ArchiveError:  # damaged, or on a failing disk
        return []


def _sort_names(
    fresh: sqlite3.Connection, names: Iterable[str], cancelled: Callable[[], bool] | None
) -> int:
    """Put the run folders' names in a temporary table (sorted by its key); return how many
    (ReindexCancelledError once ``cancelled()``: a million names take seconds)."""
    fresh.execute("CREATE TEMP TABLE names (name TEXT PRIMARY KEY) WITHOUT ROWID")
    rows = ((n,) for n in names)
    while batch := list(itertools.islice(rows, _CHUNK * 20)):
        if cancelled is not None and cancelled():
            raise ReindexCancelledError("reindex cancelled; the index is unchanged")
        fresh.executemany("INSERT OR IGNORE INTO temp.names VALUES (?)", batch)
    row = fresh.execute("SELECT count(*) FROM temp.names").fetchone()
    return int(row[0])


def _chunks(fresh: sqlite3.Connection) -> Iterator[list[str]]:
    """The run folders' names, oldest first, _CHUNK at a time."""
    cursor = fresh.execute("SELECT name FROM temp.names ORDER BY name")
    while rows := cursor.fetchmany(_CHUNK):
        yield [row[0] for row in rows]


def _fill(
    fresh: sqlite3.Connection,
    chunks: Iterable[list[RunRows | DamagedRun]],
    total: int,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> tuple[int, list[DamagedRun]]:
    """Insert each chunk's rows; return (runs added, damaged folders and duplicates)."""
    count, done = 0, 0
    damaged: list[DamagedRun] = []
    for chunk in chunks:
        if cancelled is not None and cancelled():
            raise ReindexCancelledError("reindex cancelled; the index is unchanged")
        good = [item for item in chunk if isinstance(item, RunRows)]
        damaged.extend(item for item in chunk if isinstance(item, DamagedRun))
        added = insert_rows(fresh, good, damaged)
        count += added
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return count, damaged


def insert_rows(
    connection: sqlite3.Connection, chunk: list[RunRows], damaged: list[DamagedRun]
) -> int:
    """Insert runs (oldest first, all newer than any in the catalog) with their models and
    bounds; return how many were added. One whose summary an earlier run holds is not: it
    goes to ``damaged`` as a duplicate of that run."""
    added = _insert_runs(connection, chunk, damaged)
    connection.executemany(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?)",
        (model for rows in added for model in rows.models),
    )
    bounded = [(rows.run[0], rows.bounds) for rows in added if rows.bounds is not None]
    connection.executemany(
        "INSERT OR IGNORE INTO bounds (text) VALUES (?)", ((text,) for _, text in bounded)
    )
    connection.executemany(
        "INSERT OR REPLACE INTO run_bounds SELECT ?, id FROM bounds WHERE text = ?", bounded
    )
    return len(added)


def _insert_runs(
    connection: sqlite3.Connection, chunk: list[RunRows], damaged: list[DamagedRun]
) -> list[RunRows]:
    """Insert a chunk's runs; return those added. One whose summary an earlier run holds
    is not: it goes to ``damaged`` as a duplicate of that run."""
    if not chunk:
        return []
    connection.executemany(
        "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", (rows.run for rows in chunk)
    )
    first, last = chunk[0].run[0], chunk[-1].run[0]
    (stored,) = connection.execute(
        "SELECT count(*) FROM runs WHERE timestamp BETWEEN ? AND ?", (first, last)
    ).fetchone()
    if stored == len(chunk):  # the usual case: no summary archived twice
        return chunk
    added = []
    for rows in chunk:
        timestamp, sha256 = rows.run[0], rows.run[1]
        (owner,) = connection.execute(
            "SELECT timestamp FROM runs WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if owner == timestamp:
            added.append(rows)
        else:
            damaged.append(DamagedRun(timestamp, sha256, f"the same summary as run {owner}"))
    return added
