"""PgStore: the shared archive's queries, answered as the folder archive's catalog does.

It implements ``gating.archive.storage.Storage``, so ``ArchiveReader`` and ``ReviewDesk``
run over it unchanged. A champion is the newer of a symbol's newest gate-APPROVED model
no decision dropped and its newest model decided APPROVED, as in ``catalog_champions``.
Listings of the whole archive are read a page at a time (keyset), never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import psycopg

from gating.archive.catalog_rows import (
    RunRow,
    history_record,
    json_object,
    model_object,
    stored,
)
from gating.archive.catalog_verdicts import END, UNDECIDED, decision_from_row, paged, verdict_suffix
from gating.verdicts import Champion, Decision

__all__ = ["DECISION_COLUMNS", "PgStore", "insert_decision"]

PAGE = 1000
RUN_COLUMNS = "timestamp, sha256, run_id, source, approved, review, dropped"
DECISION_COLUMNS = (
    "seq, timestamp, symbol, verdict, previous, classification, override, decided_by, "
    "reason, decided_at, run_id"
)
_E_COLUMNS = ", ".join(f"e.{name.strip()}" for name in DECISION_COLUMNS.split(","))
_LATEST = (  # the latest decision on model (s, t) made up to %(decided)s
    "SELECT {cols} FROM decisions AS e WHERE e.symbol = {s} AND e.timestamp = {t} "
    "AND e.decided_at <= %(decided)s ORDER BY e.seq DESC LIMIT 1"
)
_CHAMPIONS = """
WITH symbols(symbol) AS ({symbols}),
found AS (
    SELECT symbols.symbol,
        (SELECT m.timestamp FROM models AS m
         WHERE m.symbol = symbols.symbol AND m.classification = 'APPROVED'
           AND m.timestamp <= %(runs)s
           AND coalesce(({latest_verdict}), 'APPROVED') = 'APPROVED'
         ORDER BY m.timestamp DESC LIMIT 1) AS gate,
        (SELECT d.timestamp FROM decisions AS d
         WHERE d.symbol = symbols.symbol AND d.timestamp <= %(runs)s
           AND d.decided_at <= %(decided)s AND d.verdict = 'APPROVED'
           AND d.seq = (SELECT max(e.seq) FROM decisions AS e WHERE e.symbol = d.symbol
                        AND e.timestamp = d.timestamp AND e.decided_at <= %(decided)s)
         ORDER BY d.timestamp DESC LIMIT 1) AS decided
    FROM symbols
),
best AS (
    SELECT symbol, greatest(gate, decided) AS timestamp FROM found
    WHERE gate IS NOT NULL OR decided IS NOT NULL
)
SELECT best.symbol, best.timestamp, r.run_id, m.body, e.*
FROM best
JOIN models AS m ON m.symbol = best.symbol AND m.timestamp = best.timestamp
JOIN runs AS r ON r.timestamp = best.timestamp
LEFT JOIN LATERAL ({latest_row}) AS e ON true
ORDER BY best.symbol
""".format(  # noqa: S608 - fixed SQL: our own subqueries
    symbols="{symbols}",
    latest_verdict=_LATEST.format(cols="e.verdict", s="m.symbol", t="m.timestamp"),
    latest_row=_LATEST.format(cols=_E_COLUMNS, s="best.symbol", t="best.timestamp"),
)
_ALL_SYMBOLS = (
    "SELECT DISTINCT symbol FROM models WHERE classification = 'APPROVED' "
    "UNION SELECT symbol FROM decisions WHERE verdict = 'APPROVED'"
)
_SOME_SYMBOLS = 'SELECT DISTINCT unnest(%(symbols)s::text[]) COLLATE "C"'


def insert_decision(connection: psycopg.Connection, decision: Decision) -> None:
    """Index one decision (in the caller's transaction)."""
    d = decision
    connection.execute(
        f"INSERT INTO decisions ({DECISION_COLUMNS}, name) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (d.seq, d.timestamp, d.symbol, d.verdict, d.previous, d.classification, d.override,
         d.by, d.reason, d.decided_at, d.run_id, d.name),
    )  # fmt: skip


class _Rollback(Exception):
    """Leaves a what-if transaction without keeping anything."""


Run = Callable[[Callable[[psycopg.Connection], Any]], Any]


class PgStore:
    """The shared archive's queries; ``run(work)`` runs each on a connection: a pooled one
    in a transaction retried while PostgreSQL is away (``Database.retrying``), or the
    connection of a transaction in progress (``held``)."""

    page = PAGE

    def __init__(self, run: Run) -> None:
        self._run = run

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        values = params.values() if isinstance(params, dict) else params
        if any(isinstance(v, str) and "\x00" in v for v in values):
            return []  # no text of PostgreSQL holds a NUL: none matches (it was a 503)
        rows: list[Any] = self._run(lambda connection: connection.execute(sql, params).fetchall())
        return rows

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # --- lifetime ----------------------------------------------------------------------

    def refresh(self) -> bool:
        """A database is never replaced under a process: nothing to notice."""
        return False

    def is_built(self) -> bool:
        """The database is the archive: always complete."""
        return True

    def close(self) -> None:
        """The connections belong to the Database; nothing of this object's to close."""

    # --- runs and models ---------------------------------------------------------------

    def owner_of(self, sha256: str) -> str | None:
        """The run that holds these summary bytes, if any."""
        row = self._one("SELECT timestamp FROM runs WHERE sha256 = %s", (sha256,))
        return None if row is None else str(row[0])

    def latest(self) -> str | None:
        """The newest run's timestamp."""
        row = self._one("SELECT max(timestamp) FROM runs")
        return None if row is None or row[0] is None else str(row[0])

    def totals(self) -> tuple[int, int, int, int, str | None]:
        """Runs, models APPROVED, REVIEW and DROP by the gate, the newest timestamp."""
        runs, approved, review, dropped, latest = self._one(
            "SELECT count(*), coalesce(sum(approved), 0), coalesce(sum(review), 0), "
            "coalesce(sum(dropped), 0), max(timestamp) FROM runs"
        )
        return int(runs), int(approved), int(review), int(dropped), latest

    def runs(self, last: int | None = None) -> Iterator[RunRow]:
        """Every run's row, oldest first (only the newest ``last`` when given)."""
        if last is None:
            sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE timestamp > %s ORDER BY timestamp LIMIT %s"  # noqa: S608
            yield from paged(
                lambda after: [tuple(r) for r in self._rows(sql, (*after, self.page))],
                ("",),
                lambda row: (row[0],),
                self.page,
            )
            return
        sql = f"SELECT {RUN_COLUMNS} FROM runs ORDER BY timestamp DESC LIMIT %s"  # noqa: S608
        yield from reversed([tuple(r) for r in self._rows(sql, (last,))])

    def run(self, timestamp: str) -> RunRow | None:
        """One run's row."""
        row = self._one(f"SELECT {RUN_COLUMNS} FROM runs WHERE timestamp = %s", (timestamp,))  # noqa: S608
        return None if row is None else tuple(row)

    def run_models(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, classification) of one run's models, in summary order."""
        sql = "SELECT symbol, classification FROM models WHERE timestamp = %s ORDER BY position"
        return [(str(s), str(c)) for s, c in self._rows(sql, (timestamp,))]

    def with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` run timestamps starting with ``prefix``, oldest first."""
        sql = (
            "SELECT timestamp FROM runs WHERE timestamp >= %s AND timestamp < %s "
            "ORDER BY timestamp LIMIT %s"
        )
        return [str(row[0]) for row in self._rows(sql, (prefix, prefix + END, limit))]

    def history(self, symbol: str, last: int | None = None) -> Iterator[bytes]:
        """A symbol's history records as JSON, oldest first (the newest ``last``), each
        ending with the model's verdict and the decision that made it (or null)."""
        sql = (
            "SELECT m.timestamp, r.run_id, m.body, m.classification FROM models AS m "
            "JOIN runs AS r ON r.timestamp = m.timestamp WHERE m.symbol = %s "
        )
        decided = self.decided_suffixes(symbol)
        rows: Iterable[Any]
        if last is None:
            rows = paged(
                lambda after: self._rows(
                    sql + "AND m.timestamp > %s ORDER BY m.timestamp LIMIT %s",
                    (symbol, *after, self.page),
                ),
                ("",),
                lambda row: (row[0],),
                self.page,
            )
        else:
            newest = self._rows(sql + "ORDER BY m.timestamp DESC LIMIT %s", (symbol, last))
            rows = reversed(newest)
        for timestamp, run_id, body, classification in rows:
            # Spliced as it is stored: a row written by hand must be a whole model first
            # (else its text would end up in the history's JSON as keys, or break it).
            stored(body, f"model {symbol} of run {timestamp}", model_object)
            tail = decided.get(timestamp) or UNDECIDED.get(classification)
            yield history_record(
                timestamp, run_id, body, tail or verdict_suffix(classification, None)
            )

    def history_count(self, symbol: str) -> int:
        """How many runs gated ``symbol``."""
        row = self._one("SELECT count(*) FROM models WHERE symbol = %s", (symbol,))
        return 0 if row is None else int(row[0])  # None: a symbol no text holds

    def symbols(self) -> list[str]:
        """Every symbol that was ever gated, sorted."""
        return [str(r[0]) for r in self._rows("SELECT DISTINCT symbol FROM models ORDER BY 1")]

    def damaged(self) -> list[tuple[str, str]]:
        """No run of a database is damaged: a transaction is whole or absent."""
        return []

    def record(self, timestamp: str) -> bytes | None:
        """A run's record (its model_assessments.json bytes)."""
        row = self._one("SELECT record FROM runs WHERE timestamp = %s", (timestamp,))
        return None if row is None else bytes(row[0])

    def stored(self, timestamps: Sequence[str]) -> list[tuple[str, bytes, bytes]]:
        """(timestamp, record, summary bytes) of these runs, in timestamp order."""
        rows = self._rows(
            "SELECT timestamp, record, summary FROM runs WHERE timestamp = ANY(%s) "
            "ORDER BY timestamp",
            (list(timestamps),),
        )
        return [(str(t), bytes(r), bytes(s)) for t, r, s in rows]

    def run_file(self, timestamp: str, name: str) -> bytes | None:
        """One of a run's three files: summary.json, model_assessments.json, recommendations.md."""
        column = {"summary.json": "summary", "model_assessments.json": "record",
                  "recommendations.md": "report"}[name]  # fmt: skip
        row = self._one(f"SELECT {column} FROM runs WHERE timestamp = %s", (timestamp,))  # noqa: S608
        return None if row is None else bytes(row[0])

    # --- decisions and verdicts --------------------------------------------------------

    def decisions(self, symbol: str | None = None, timestamp: str | None = None) -> list[Decision]:
        """Every decision (on one symbol, on one run's models), oldest first."""
        where = {"symbol": symbol, "timestamp": timestamp}
        wanted = [name for name, value in where.items() if value is not None]
        sql = f"SELECT {DECISION_COLUMNS} FROM decisions"  # noqa: S608
        if wanted:
            sql += " WHERE " + " AND ".join(f"{name} = %s" for name in wanted)
        rows = self._rows(sql + " ORDER BY seq", [where[name] for name in wanted])
        return [decision_from_row(row) for row in rows]

    def decision_of(self, timestamp: str, symbol: str, decided: str = END) -> Decision | None:
        """The latest decision on one model made up to ``decided``, if any."""
        row = self._one(
            f"SELECT {DECISION_COLUMNS} FROM decisions WHERE symbol = %s AND timestamp = %s "  # noqa: S608
            "AND decided_at <= %s ORDER BY seq DESC LIMIT 1",
            (symbol, timestamp, decided),
        )
        return None if row is None else decision_from_row(row)

    def decided_suffixes(self, symbol: str) -> dict[str, str]:
        """Each decided run of a symbol: the verdict_suffix its history record ends with."""
        rows = self._rows(
            f"SELECT DISTINCT ON (timestamp) {DECISION_COLUMNS} FROM decisions "  # noqa: S608
            "WHERE symbol = %s ORDER BY timestamp, seq DESC",
            (symbol,),
        )
        return {str(row[1]): verdict_suffix(str(row[3]), decision_from_row(row)) for row in rows}

    def last_decision(self) -> tuple[int, str | None]:
        """The newest decision's (sequence number, decided_at); (0, None) when none."""
        row = self._one("SELECT seq, decided_at FROM decisions ORDER BY seq DESC LIMIT 1")
        return (0, None) if row is None else (int(row[0]), str(row[1]))

    def model(self, timestamp: str, symbol: str) -> tuple[str, str, str | None] | None:
        """One model's (classification, index body, run_id), or None."""
        row = self._one(
            "SELECT m.classification, m.body, r.run_id FROM models AS m JOIN runs AS r "
            "ON r.timestamp = m.timestamp WHERE m.symbol = %s AND m.timestamp = %s",
            (symbol, timestamp),
        )
        return None if row is None else (str(row[0]), str(row[1]), row[2])

    def run_verdicts(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, verdict) of one run's models, in summary order."""
        rows = self._rows(
            "SELECT m.symbol, coalesce((SELECT d.verdict FROM decisions AS d "
            "WHERE d.symbol = m.symbol AND d.timestamp = m.timestamp ORDER BY d.seq DESC "
            "LIMIT 1), m.classification) FROM models AS m WHERE m.timestamp = %s "
            "ORDER BY m.position",
            (timestamp,),
        )
        return [(str(symbol), str(verdict)) for symbol, verdict in rows]

    def bounds_of(self, timestamp: str) -> str | None:
        """The [APPROVED, DROP] bounds (JSON, by metric) a run was gated under, if known."""
        row = self._one("SELECT bounds FROM runs WHERE timestamp = %s", (timestamp,))
        return None if row is None or row[0] is None else str(row[0])

    def pending(
        self, last: int | None = None
    ) -> Iterator[tuple[str, str | None, str, str, str | None]]:
        """(timestamp, run_id, symbol, body, bounds) of each undecided REVIEW model, newest
        run first (only the first ``last``; else a page at a time)."""
        sql = (
            "SELECT m.timestamp, r.run_id, m.symbol, m.body, r.bounds, m.position "
            "FROM models AS m JOIN runs AS r ON r.timestamp = m.timestamp "
            "WHERE m.classification = 'REVIEW' AND NOT EXISTS (SELECT 1 FROM decisions AS d "
            "WHERE d.symbol = m.symbol AND d.timestamp = m.timestamp) "
            "AND (m.timestamp < %s OR (m.timestamp = %s AND m.position > %s)) "
            "ORDER BY m.timestamp DESC, m.position LIMIT %s"
        )
        rows: Iterable[Any]
        if last is None:
            rows = paged(
                lambda after: self._rows(sql, (after[0], after[0], after[1], self.page)),
                (END, -1),
                lambda row: (row[0], row[5]),
                self.page,
            )
        else:
            rows = self._rows(sql, (END, END, -1, last))
        for timestamp, run_id, symbol, body, bounds, _ in rows:
            yield timestamp, run_id, symbol, body, bounds

    def pending_count(self) -> int:
        """How many REVIEW models await a decision."""
        row = self._one(
            "SELECT count(*) FROM models AS m WHERE m.classification = 'REVIEW' AND NOT EXISTS "
            "(SELECT 1 FROM decisions AS d WHERE d.symbol = m.symbol AND d.timestamp = m.timestamp)"
        )
        return int(row[0])

    # --- champions ---------------------------------------------------------------------

    def _champions(self, symbols: str, params: dict[str, Any]) -> dict[str, Champion]:
        found = {}
        for symbol, timestamp, run_id, body, *decided in self._rows(
            _CHAMPIONS.format(symbols=symbols), params
        ):
            decision = None if decided[0] is None else decision_from_row(decided)
            body_of = stored(body, f"model {symbol} of run {timestamp}", json_object)
            found[symbol] = Champion(symbol, timestamp, run_id, body_of, decision)
        return found

    def champion(self, symbol: str, runs_to: str = END, decided_to: str = END) -> Champion | None:
        """A symbol's champion among runs up to ``runs_to`` and decisions up to ``decided_to``."""
        return self.champions(runs_to, decided_to, symbols=[symbol]).get(symbol)

    def champion_with(self, decision: Decision) -> Champion | None:
        """The decided symbol's champion were ``decision`` indexed (nothing is kept)."""

        def work(connection: psycopg.Connection) -> Champion | None:
            found: list[Champion | None] = []
            try:
                with connection.transaction():  # a savepoint, rolled back
                    insert_decision(connection, decision)
                    found.append(held(connection).champion(decision.symbol))
                    raise _Rollback
            except _Rollback:
                pass
            return found[0]

        champion: Champion | None = self._run(work)
        return champion

    def champions(
        self, runs_to: str = END, decided_to: str = END, *, symbols: Collection[str] | None = None
    ) -> dict[str, Champion]:
        """Every symbol's champion (the deployable set), or only those of ``symbols``,
        keyed and sorted by symbol."""
        params: dict[str, Any] = {"runs": runs_to, "decided": decided_to}
        if symbols is None:
            return self._champions(_ALL_SYMBOLS, params)
        if not symbols:
            return {}
        return self._champions(_SOME_SYMBOLS, params | {"symbols": list(symbols)})


def held(connection: psycopg.Connection) -> PgStore:
    """A store whose queries run on ``connection`` (inside its transaction)."""
    return PgStore(lambda work: work(connection))
