"""The catalog's decisions and verdicts: every SQL statement that reads or writes them.

The layer of the Catalog just above its file: decisions are indexed by model, and the
current verdict of each decided model is kept in ``verdicts``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from gating.archive.catalog_failure import CatalogDamagedError
from gating.archive.catalog_file import CatalogFile
from gating.rules import METRICS, ModelGatingConfig
from gating.verdicts import MAX_SEQ, Decision

__all__ = [
    "D_COLUMNS",
    "END",
    "PAGE",
    "UNDECIDED",
    "VerdictQueries",
    "bounds_of_entry",
    "bounds_statements",
    "decision_from_row",
    "insert_decisions",
    "paged",
    "verdict_suffix",
]

END = "~"  # sorts after every timestamp and ISO time: "no bound"


_COLUMNS = (
    "seq, timestamp, symbol, verdict, previous, classification, override, decided_by, "
    "reason, decided_at, run_id"
)
D_COLUMNS = ", ".join(f"d.{name.strip()}" for name in _COLUMNS.split(","))
_INSERT_DECISION = (
    f"INSERT OR IGNORE INTO decisions ({_COLUMNS}, name) VALUES ({', '.join('?' * 12)})"  # noqa: S608
)
_UPSERT_VERDICT = (
    "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, timestamp) DO UPDATE "
    "SET verdict = excluded.verdict, seq = excluded.seq, name = excluded.name "
    "WHERE (excluded.seq, excluded.name) > (verdicts.seq, verdicts.name)"
)


@functools.lru_cache(maxsize=64)
def _bounds_text(config: tuple[tuple[str, Any], ...]) -> str | None:
    """A config's [APPROVED, DROP] bounds by metric as JSON (None if it is not a config)."""
    try:
        gating = ModelGatingConfig(**dict(config))
    except (TypeError, ValueError):
        return None  # a hand-edited record: its reasons are read from it instead
    return json.dumps({name: list(gating.bounds(name)) for name in METRICS})


def bounds_of_entry(entry: Mapping[str, Any]) -> str | None:
    """The [APPROVED, DROP] bounds (JSON, by metric) an index entry's run was gated under."""
    config = entry.get("config")
    try:
        if isinstance(config, dict):  # the thresholds only: a champion table bounds nothing
            return _bounds_text(tuple((k, v) for k, v in config.items() if k != "champion"))
    except TypeError:  # an unhashable value in a hand-edited record
        pass
    return None


def bounds_statements(
    entries: Iterable[Mapping[str, Any]],
) -> list[tuple[str, list[tuple[str, ...]]]]:
    """The statements that keep each run's [APPROVED, DROP] bounds (shared, deduplicated)."""
    texts: list[tuple[str, ...]] = []
    for entry in entries:
        text = bounds_of_entry(entry)
        if text is not None:
            texts.append((str(entry["timestamp"]), text))
    return [
        ("INSERT OR IGNORE INTO bounds (text) VALUES (?)", [(text,) for _, text in texts]),
        ("INSERT OR REPLACE INTO run_bounds SELECT ?, id FROM bounds WHERE text = ?", texts),
    ]


def decision_from_row(row: Sequence[Any]) -> Decision:
    """A Decision from a row of the decisions table's columns in dataclass order."""
    seq, timestamp, symbol, verdict, previous, classification, override, by, reason, at, run_id = (
        row
    )
    return Decision(
        seq, timestamp, symbol, verdict, previous, classification, bool(override), by, reason,
        at, run_id,
    )  # fmt: skip


def _decision_row(d: Decision) -> tuple[Any, ...]:
    return (
        d.seq, d.timestamp, d.symbol, d.verdict, d.previous, d.classification, int(d.override),
        d.by, d.reason, d.decided_at, d.run_id, d.name,
    )  # fmt: skip


def insert_decisions(connection: sqlite3.Connection, decisions: Iterable[Decision]) -> None:
    """Insert decisions and bring each decided model's verdict up to date (in a transaction)."""
    for decision in decisions:
        connection.execute(_INSERT_DECISION, _decision_row(decision))
        connection.execute(
            _UPSERT_VERDICT,
            (decision.symbol, decision.timestamp, decision.verdict, decision.seq, decision.name),
        )


def verdict_suffix(classification: str, decision: Decision | None) -> str:
    """The ``verdict`` and ``decision`` keys a history record ends with (``}`` included)."""
    verdict = classification if decision is None else decision.verdict
    audit = (
        "null"
        if decision is None
        else json.dumps(decision.as_audit(), ensure_ascii=False, separators=(",", ":"))
    )
    return f',"verdict":"{verdict}","decision":{audit}}}'


UNDECIDED = {grade: verdict_suffix(grade, None) for grade in ("APPROVED", "REVIEW", "DROP")}

PAGE = 1000  # rows a whole-archive listing reads per query


def paged(
    fetch: Callable[[tuple[Any, ...]], list[Any]],
    first: tuple[Any, ...],
    key: Callable[[Any], tuple[Any, ...]],
    size: int,
) -> Iterator[Any]:
    """Every row of a keyset-paged query: ``fetch(after)`` returns the next ``size`` rows.

    No read transaction stays open between pages, so a listing of a million runs neither
    holds back the WAL's checkpoints nor ties the stream to the thread that began it.
    """
    after = first
    while True:
        page = fetch(after)
        yield from page
        if len(page) < size:
            return
        after = key(page[-1])


class VerdictQueries(CatalogFile):
    """The decision and verdict statements of the Catalog (its file gives the connection)."""

    page = PAGE  # rows per query of a whole-archive listing

    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Index decisions (already on disk), all in one transaction."""
        self._transaction(lambda connection: insert_decisions(connection, decisions))

    def decision_names(self) -> set[str]:
        """The file names of every indexed decision."""
        return {str(row[0]) for row in self._rows("SELECT name FROM decisions")}

    def decided_suffixes(self, symbol: str) -> dict[str, str]:
        """Each decided run of a symbol: the verdict_suffix its history record ends with."""
        return {
            str(row[1]): verdict_suffix(str(row[3]), decision_from_row(row))
            for row in self._rows(
                f"SELECT {D_COLUMNS} FROM verdicts AS v JOIN decisions AS d ON d.name = v.name "  # noqa: S608
                "WHERE v.symbol = ?",
                (symbol,),
            )
        }

    def last_decision(self) -> tuple[int, str | None]:
        """The newest decision's (sequence number, decided_at); (0, None) when none."""
        row = self._one(
            "SELECT seq, decided_at FROM decisions ORDER BY seq DESC, name DESC LIMIT 1"
        )
        if row is None:
            return 0, None
        seq, decided_at = row
        if type(seq) is not int or not 1 <= seq <= MAX_SEQ or not isinstance(decided_at, str):
            # A row edited by hand (the files say otherwise): rebuilt from decisions/.
            raise CatalogDamagedError(f"{self.path}: a decision's row is not one of ours")
        return seq, decided_at

    def decisions(self, symbol: str | None = None, timestamp: str | None = None) -> list[Decision]:
        """Every decision (on one symbol, on one run's models), oldest first."""
        where = {"symbol": symbol, "timestamp": timestamp}
        wanted = [name for name, value in where.items() if value is not None]
        sql = f"SELECT {_COLUMNS} FROM decisions"  # noqa: S608
        if wanted:
            sql += " WHERE " + " AND ".join(f"{name} = ?" for name in wanted)
        params = [where[name] for name in wanted]
        return [decision_from_row(row) for row in self._rows(sql + " ORDER BY seq, name", params)]

    def decision_of(self, timestamp: str, symbol: str, decided: str = END) -> Decision | None:
        """The latest decision on one model made up to ``decided`` (an ISO time), if any."""
        row = self._one(
            f"SELECT {_COLUMNS} FROM decisions WHERE symbol = ? AND timestamp = ? "  # noqa: S608
            "AND decided_at <= ? ORDER BY seq DESC, name DESC LIMIT 1",
            (symbol, timestamp, decided),
        )
        return None if row is None else decision_from_row(row)

    def model(self, timestamp: str, symbol: str) -> tuple[str, str, str | None] | None:
        """One model's (classification, index body, run_id), or None."""
        row = self._one(
            "SELECT m.classification, m.body, r.run_id FROM models AS m "
            "JOIN runs AS r ON r.timestamp = m.timestamp WHERE m.symbol = ? AND m.timestamp = ?",
            (symbol, timestamp),
        )
        return None if row is None else (str(row[0]), str(row[1]), row[2])

    def run_verdicts(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, verdict) of one run's models, in summary order."""
        return [
            (str(symbol), str(verdict))
            for symbol, verdict in self._rows(
                "SELECT m.symbol, coalesce(v.verdict, m.classification) FROM models AS m "
                "LEFT JOIN verdicts AS v ON v.symbol = m.symbol AND v.timestamp = m.timestamp "
                "WHERE m.timestamp = ? ORDER BY m.position",
                (timestamp,),
            )
        ]

    def with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` run timestamps starting with ``prefix`` (a key range), oldest first."""
        return [
            str(row[0])
            for row in self._rows(
                "SELECT timestamp FROM runs WHERE timestamp >= ? AND timestamp < ? "
                "ORDER BY timestamp LIMIT ?",
                (prefix, prefix + END, limit),
            )
        ]

    def bounds_of(self, timestamp: str) -> str | None:
        """The [APPROVED, DROP] bounds (JSON, by metric) a run was gated under, if known."""
        row = self._one(
            "SELECT b.text FROM run_bounds AS rb JOIN bounds AS b ON b.id = rb.bounds "
            "WHERE rb.timestamp = ?",
            (timestamp,),
        )
        return None if row is None else str(row[0])

    def pending(
        self, last: int | None = None
    ) -> Iterator[tuple[str, str | None, str, str, str | None]]:
        """(timestamp, run_id, symbol, body, bounds) of each undecided REVIEW model, newest
        run first (only the first ``last`` when given; else read a page at a time)."""
        sql = (
            "SELECT m.timestamp, r.run_id, m.symbol, m.body, b.text, m.position "
            "FROM models AS m JOIN runs AS r ON r.timestamp = m.timestamp "
            "LEFT JOIN run_bounds AS rb ON rb.timestamp = m.timestamp "
            "LEFT JOIN bounds AS b ON b.id = rb.bounds WHERE m.classification = 'REVIEW' "
            "AND NOT EXISTS (SELECT 1 FROM verdicts AS v "
            "WHERE v.symbol = m.symbol AND v.timestamp = m.timestamp) "
            "AND (m.timestamp < ?1 OR (m.timestamp = ?1 AND m.position > ?2)) "
            "ORDER BY m.timestamp DESC, m.position LIMIT ?3"
        )
        if last is None:
            rows = paged(
                lambda after: list(self._rows(sql, (*after, self.page))),
                (END, -1),
                lambda row: (row[0], row[5]),
                self.page,
            )
        else:
            rows = self._rows(sql, (END, -1, last))
        for timestamp, run_id, symbol, body, bounds, _ in rows:
            yield timestamp, run_id, symbol, body, bounds

    def pending_count(self) -> int:
        """How many REVIEW models await a decision: the tallied REVIEW models less those
        decided (a walk of the verdicts, which are as many as decisions, not of the models)."""
        row = self._one(  # EXISTS, not a join: the planner would walk the models instead
            "SELECT (SELECT review FROM tallies) - (SELECT count(*) FROM verdicts AS v "
            "WHERE EXISTS (SELECT 1 FROM models AS m WHERE m.symbol = v.symbol "
            "AND m.timestamp = v.timestamp AND m.classification = 'REVIEW'))"
        )
        return 0 if row is None or row[0] is None else max(0, int(row[0]))
