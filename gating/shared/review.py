"""SharedReader and SharedReview: the folder archive's reader and review desk over PgStore,
with what reads a run's files or writes a decision done in the database instead."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg

from gating.archive.catalog_rows import stored
from gating.archive.decisions import events_of
from gating.archive.moments import resolve_timestamp
from gating.archive.reader import ArchiveReader
from gating.archive.review import ReviewDesk, check_seen
from gating.errors import (
    RunNotFoundError,
    SymbolNotFoundError,
    shown,
)
from gating.progress import Progress
from gating.regate import RegateReport, RunOutcome
from gating.rules import ModelGatingConfig
from gating.run import ArchivedRun, index_entry, run_from_record
from gating.shared.database import Database
from gating.shared.store import PgStore, held, insert_decision
from gating.shared.writer import COMMIT_LOCK, append_events, now_micros
from gating.verdicts import (
    Decision,
    check_decision,
    check_request,
    iso_from_micros,
    micros_from_iso,
    parse_verdict,
)

__all__ = ["SharedReader", "SharedReview"]

_REGATE_PAGE = 500  # runs read from the database at a time by regate


class SharedReader(ArchiveReader):
    """ArchiveReader over the database: a run's record is read from its row."""

    catalog: PgStore

    def run_entry(self, timestamp: str | None = None) -> dict[str, Any] | None:
        """A run's index entry, from its record (the latest run when None)."""
        if timestamp is None:
            timestamp = self.latest_timestamp()
            if timestamp is None:
                return None
        record = self.catalog.record(timestamp)
        if record is None:
            raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}")
        return stored(record, f"run {timestamp}", index_entry)

    def get_run(self, timestamp: str) -> ArchivedRun:
        """The full gating result of one archived run, from its record."""
        record = self.catalog.record(timestamp)
        if record is None:
            raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}")
        return stored(record, f"run {timestamp}", run_from_record)

    def regate(
        self,
        config: ModelGatingConfig,
        since: str | datetime | None = None,
        *,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> RegateReport:
        """What if the thresholds were ``config``'s? Every run since ``since``, gated again
        from the summaries in the database (read a page at a time; ``workers`` is not used:
        the database is read by one process)."""
        from gating.archive.regate import gate_stored, regate_with  # noqa: PLC0415
        from gating.rules import classifier  # noqa: PLC0415

        classify = classifier(config)

        def outcomes(names: Sequence[str]) -> Iterator[RunOutcome]:
            for begin in range(0, len(names), _REGATE_PAGE):
                page = list(names[begin : begin + _REGATE_PAGE])
                rows = self.catalog.stored(page)
                for timestamp, record, raw in rows:
                    yield gate_stored(timestamp, record, raw, config, classify)
                if progress is not None:
                    progress(min(begin + _REGATE_PAGE, len(names)), len(names))

        return regate_with(self.catalog, config, since, outcomes)


class SharedReview(ReviewDesk):
    """ReviewDesk over the database; a decision is one transaction, races refused."""

    catalog: PgStore

    def __init__(self, database: Database, store: PgStore, reader: SharedReader) -> None:
        super().__init__(reader.layout, store, reader._ensure_any, writer=None)
        self.database = database

    def decide(
        self,
        timestamp: str,
        symbol: str,
        verdict: str,
        *,
        by: str,
        reason: str,
        force: bool = False,
        seen: int | None = None,
    ) -> Decision:
        """Approve or drop one model, in one transaction with its events.

        Decisions from every host are serialized with commits by one advisory lock. Whoever decides
        states (``seen``), or this reads first, the model's latest decision; if another
        came in between, DecisionConflictError names it and nothing is recorded.
        """
        check_request(timestamp, symbol, by, reason)
        stamp = resolve_timestamp(self.catalog, timestamp)
        if seen is None:
            current = self.catalog.decision_of(stamp, symbol)
            seen = 0 if current is None else current.seq
        expected = seen
        chosen = parse_verdict(verdict)

        def work(connection: psycopg.Connection) -> Decision:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
            store = held(connection)
            model = store.model(stamp, symbol)
            if model is None:
                raise SymbolNotFoundError(f"run {stamp} did not gate symbol {shown(symbol)}")
            classification, _, run_id = model
            override = check_decision(classification, chosen, by=by, reason=reason, force=force)
            current = store.decision_of(stamp, symbol)
            if (
                current is not None
                and current.seq != expected
                and _same(current, chosen, by, reason)
            ):
                return current  # this decision, committed before its answer was lost
            check_seen(current, expected, stamp, symbol)
            seq, last_at = store.last_decision()
            micros = now_micros(connection)
            with contextlib.suppress(ValueError):  # a time written by hand is passed
                # over (it was a traceback at every decision of every host)
                micros = max(micros, micros_from_iso(last_at or "") + 1)
            decision = Decision(
                seq=seq + 1, timestamp=stamp, symbol=symbol, verdict=str(chosen),
                previous=classification if current is None else current.verdict,
                classification=classification, override=override, by=by.strip(),
                reason=reason.strip(), decided_at=iso_from_micros(micros), run_id=run_id,
            )  # fmt: skip
            events = events_of(store, decision)
            insert_decision(connection, decision)
            append_events(connection, events)
            return dataclasses.replace(decision, events=tuple(events))

        return self.database.retrying(work)


def _same(current: Decision, verdict: object, by: str, reason: str) -> bool:
    return (current.verdict, current.by, current.reason) == (
        str(verdict),
        by.strip(),
        reason.strip(),
    )
