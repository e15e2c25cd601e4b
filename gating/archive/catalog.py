"""The SQLite query catalog: runs, models and damaged folders, and their SQL statements.

The catalog is derived data: each run is added in the step that publishes its folder,
and `rebuild` makes it again from the run folders alone. It is cut by concept, one
layer per module: CatalogFile (the file and its connections), VerdictQueries (decisions
and verdicts), ChampionQueries (champions), Catalog (runs and models). Everything the
archive asks of it is declared in ``storage.Storage``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from gating.archive.catalog_champions import ChampionQueries
from gating.archive.catalog_failure import CatalogDamagedError, failure
from gating.archive.catalog_file import immediate
from gating.archive.catalog_rows import RunRow, entry_rows, history_record, run_line
from gating.archive.catalog_schema import SCHEMA_VERSION
from gating.archive.catalog_verdicts import (
    UNDECIDED,
    bounds_statements,
    insert_decisions,
    paged,
    verdict_suffix,
)
from gating.archive.durable import not_ours, read_regular, unreadable_now
from gating.archive.layout import RUN_FILE_MAX, Layout, is_timestamp
from gating.verdicts import Decision

__all__ = ["SCHEMA_VERSION", "Catalog", "CatalogDamagedError", "RunRow"]

_BUILT = "built"  # set once the catalog holds every run folder (a rebuild sets it)


class Catalog(ChampionQueries):
    """One archive's SQLite catalog: runs, models and damaged folders (this class),
    champions (ChampionQueries), decisions and verdicts (VerdictQueries), over one file
    (CatalogFile).

    Opening never creates the archive folder: a catalog of an archive that does not
    exist yet answers every query with nothing. SQLite errors that mean a damaged file
    come out as CatalogDamagedError.
    """

    # --- writing ---------------------------------------------------------------------

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

    def set_meta(self, facts: Mapping[str, str]) -> None:
        """Keep small facts about the derived files (say, what index.json holds), all in
        one transaction."""
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(facts.items()))])

    def rebuild(
        self,
        entries: Iterable[dict[str, Any]],
        damaged: Iterable[tuple[str, str | None, str]],
        decisions: Iterable[Decision] = (),
    ) -> int:
        """Replace every run and decision in place, in one transaction; return how many runs
        were added (for small catalogs: reindex builds a fresh file, see
        gating.archive.rebuild, which inserts the rows the same way).

        Readers keep seeing the old catalog until the rebuild commits. Two entries with
        the same summary bytes: the later one is recorded as damaged (a duplicate).
        """
        from gating.archive.parsing import DamagedRun, rows_of  # noqa: PLC0415 - rebuilds only
        from gating.archive.rebuild import insert_rows  # noqa: PLC0415

        connection = self._writable()
        found = [DamagedRun(*row) for row in damaged]
        rows = [rows_of(entry) for entry in sorted(entries, key=lambda e: str(e["timestamp"]))]
        try:
            with immediate(connection):
                for table in ("runs", "models", "damaged", "decisions", "verdicts", "run_bounds"):
                    connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                count: int = insert_rows(connection, rows, found)
                connection.executemany("INSERT OR REPLACE INTO damaged VALUES (?, ?, ?)", found)
                insert_decisions(connection, decisions)
                connection.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (_BUILT,))
        except sqlite3.DatabaseError as error:
            raise failure(self.path, error) from None
        return count

    # --- reading ---------------------------------------------------------------------

    def is_built(self) -> bool:
        """Whether the catalog was ever filled from the run folders (an empty new file is not)."""
        return self.meta(_BUILT) == "1"

    def meta_items(self) -> list[tuple[str, str]]:
        """Every fact set by set_meta (and whether the catalog was built)."""
        return [(str(key), str(value)) for key, value in self._rows("SELECT key, value FROM meta")]

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
            if not (isinstance(body, str) and body[:1] == "{" and body[-1:] == "}"):
                raise CatalogDamagedError(f"{self.path}: {symbol} in {timestamp}: not an object")
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

    def record(self, timestamp: str) -> bytes | None:
        """A run's record, read from its folder (the truth the catalog is derived from):
        None if there is none of ours; ArchiveError if it cannot be read now (no file
        handles: a decision's events built without it were lost)."""
        if not is_timestamp(timestamp):
            return None
        path = Layout(self.path.parent).record(timestamp)
        try:
            return read_regular(path, RUN_FILE_MAX)
        except OSError as error:
            if not_ours(error):
                return None
            raise unreadable_now(path, error) from None

    def index_lines(self) -> Iterator[bytes]:
        """Every run's index.json line, oldest first, streamed."""
        return (line for _, line in self.index_lines_after(None))

    def index_lines_after(self, after: str | None) -> Iterator[tuple[str, bytes]]:
        """(timestamp, index.json line) of each run after ``after`` (all when None), oldest
        first, streamed."""
        current: RunRow | None = None
        models: list[tuple[str, str]] = []
        for *run, symbol, body in self._rows(
            "SELECT r.timestamp, r.sha256, r.run_id, r.source, r.approved, r.review, r.dropped, "
            "m.symbol, m.body FROM runs AS r JOIN models AS m ON m.timestamp = r.timestamp "
            "WHERE r.timestamp > ? ORDER BY r.timestamp, m.position",
            (after or "",),
        ):
            if current is not None and run[0] != current[0]:
                yield current[0], run_line(current, models)
                models = []
            current = tuple(run)
            models.append((symbol, body))
        if current is not None:
            yield current[0], run_line(current, models)
