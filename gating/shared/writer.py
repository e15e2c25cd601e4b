"""SharedWriter: group commits into the shared archive, one transaction each.

Every commit takes one transaction-scoped advisory lock, so commits from any number of
hosts are serialized: inside it the run timestamps come from the database's clock
(strictly increasing in commit order), the same bytes are found if any host committed
them first (a unique sha256), each run's summary, record and report go in beside its
row and models, and its events into the outbox table. All of it commits, or none.
A commit whose outcome was lost is run again and finds its runs archived: duplicates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from gating.archive.catalog_rows import entry_rows
from gating.archive.catalog_verdicts import bounds_of_entry
from gating.archive.champions import GroupChampions, assess_now, champion_entries
from gating.archive.commit import (
    PreparedRun,
    archive_in_groups,
    duplicate_result,
    plan_group,
    prepare_run,
    render,
)
from gating.archive.disk import DISK, Disk
from gating.archive.layout import stamps_after, ts_from_micros
from gating.archive.rejections import RejectedFile, unread_key
from gating.archive.storage import Summaryish
from gating.errors import ArchiveError, source_text
from gating.events import Event, events_of_runs, file_rejected_event
from gating.rules import ModelGatingConfig
from gating.run import ArchivedRun
from gating.shared.database import Database
from gating.shared.store import PgStore, held

if TYPE_CHECKING:
    from gating.archive.outbox import Outbox
    from gating.archive.reindexing import PendingReindex

__all__ = ["COMMIT_LOCK", "SharedWriter", "append_events", "now_micros"]


# The pg_advisory_xact_lock key every commit, every decision and every event takes, as the
# folder archive's writer lock: a run is held against the champions of every decision
# committed, none in flight (one racing it was stamped before the run and not seen by it).
COMMIT_LOCK = 0x6761_7465_0002


def append_events(connection: psycopg.Connection, events: Sequence[Event]) -> None:
    """Add events to the outbox table (in the caller's transaction), in order, under
    COMMIT_LOCK: their positions then commit in order, so a sender reading past its cursor
    never passes over an event that commits later with a smaller position (a rejection's
    event, written beside a commit's, was lost so)."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))  # re-entrant
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO events (id, type, body) VALUES (%s, %s, %s)",
            [(e["id"], e["type"], json.dumps(e, ensure_ascii=False)) for e in events],
        )


def now_micros(connection: psycopg.Connection) -> int:
    """The database's clock, in microseconds since the epoch."""
    row = connection.execute(
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
    ).fetchone()
    assert row is not None
    return int(row[0])


class SharedWriter:
    """Writes the shared archive: commits, rejections (it has no folders to recover,
    compact or rebuild: the database is the archive)."""

    outbox: Outbox | None = None  # events go to the database's own outbox table
    derived = False  # the database is the archive: nothing to compact or rebuild

    def __init__(
        self,
        database: Database,
        store: PgStore,
        config: ModelGatingConfig,
        *,
        max_file_bytes: int,
        disk: Disk = DISK,
    ) -> None:
        self.database = database
        self.disk = disk  # no files here: only its named steps (tests crash at them)
        self.store = store
        self.config = config
        self.max_file_bytes = max_file_bytes
        self.host = f"{socket.gethostname()}:{os.getpid()}"

    def close(self, *, fold: bool = True) -> None:
        """Close the connections (``fold`` has no meaning here: there is no index.json)."""
        self.database.close()

    def prepare(
        self, summary_data: Summaryish, *, source: str | None = None, sha256: str | None = None
    ) -> PreparedRun:
        """Parse and gate a summary, writing nothing (SummaryError if invalid)."""
        return prepare_run(
            summary_data, self.config, max_bytes=self.max_file_bytes, source=source, sha256=sha256
        )

    def commit_many(self, prepared: Sequence[PreparedRun]) -> list[ArchivedRun]:
        """Archive prepared runs as one transaction; results in the order given, a summary
        archived before (by any host) or twice in the group as ``duplicate=True``."""
        if not prepared:
            return []
        results = self.database.retrying(lambda connection: self._commit(connection, prepared))
        self.disk.step("shared:committed")
        return results

    def _commit(
        self, connection: psycopg.Connection, prepared: Sequence[PreparedRun]
    ) -> list[ArchivedRun]:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
        store = held(connection)
        plan = plan_group(prepared, store.owner_of)
        stamps = stamps_after(store.latest(), now_micros(connection), len(plan.fresh))
        champions = GroupChampions(lambda symbols: store.champions(symbols=symbols))
        group = []
        for item, stamp in zip(plan.fresh, stamps, strict=True):
            group.append(render(champions.compare(item, stamp), stamp))
        # The events first: their champions are those before this group.
        events = events_of_runs([r.run for r in group], champion_entries(store))
        runs, models = [], []
        for rendered in group:
            (timestamp, sha256, run_id, source, approved, review, dropped), rows = entry_rows(
                rendered.entry
            )
            files = rendered.files
            runs.append(
                (timestamp, sha256, run_id, source, approved, review, dropped,
                 bounds_of_entry(rendered.entry), files["summary.json"],
                 files["model_assessments.json"], files["recommendations.md"], self.host)
            )  # fmt: skip
            models.extend(rows)
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO runs (timestamp, sha256, run_id, source, approved, review, dropped, "
                "bounds, summary, record, report, host) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                runs,
            )
            cursor.executemany(
                "INSERT INTO models (symbol, timestamp, position, classification, body) "
                "VALUES (%s, %s, %s, %s, %s)",
                models,
            )
        append_events(connection, events)
        connection.execute("NOTIFY gatewatch_events")  # wakes the senders once committed
        self.disk.step("shared:before_commit")
        results = []
        for item, step in zip(prepared, plan.steps, strict=True):
            if isinstance(step, str):
                results.append(duplicate_result(item, step, store.record(step)))
            else:
                position, repeated = step
                run = group[position].run
                results.append(dataclasses.replace(run, duplicate=True) if repeated else run)
        return results

    def archive_many(self, summaries: Iterable[Summaryish]) -> list[ArchivedRun]:
        """archive_in_groups: prepared and committed GROUP_SIZE at a time."""
        return archive_in_groups(summaries, self.prepare, self.commit_many)

    def assess(self, summary_data: Summaryish) -> ArchivedRun:
        """Gate a summary as a commit now would, writing nothing (a dry run)."""
        stamp = ts_from_micros(self.database.retrying(now_micros))
        return assess_now(
            self.prepare(summary_data), stamp, lambda symbols: self.store.champions(symbols=symbols)
        )

    def recover(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Nothing to recover: a transaction is whole or absent. Returns 0."""
        return 0

    def compact(self) -> int:
        """Nothing to fold (there is no index.json); how many runs the archive holds."""
        return self.store.totals()[0]

    def reindex(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Refused: a shared database is the archive itself, never rebuilt."""
        raise ArchiveError(
            f"{self.database.where}: a shared archive is never rebuilt (its database is the "
            "archive); `gatewatch export DIR` writes a folder archive from it"
        )

    def begin_reindex(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int | PendingReindex:
        """Refused, as ``reindex`` is."""
        return self.reindex(progress, cancelled)

    def reject(
        self, raw: bytes | None, *, source: str, reason: str, sha256: str | None = None
    ) -> Path | None:
        """Keep a rejected summary and why, with its file_rejected event, in one transaction."""
        source = source_text(source)  # a name with undecodable bytes: the database takes text
        event = file_rejected_event(source, reason, sha256)

        def work(connection: psycopg.Connection) -> None:
            connection.execute(
                "INSERT INTO rejections (sha256, source, reason, raw, rejected_at, host) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (sha256, source, reason, raw, event["time"], self.host),
            )
            append_events(connection, [event])

        self.database.retrying(work)
        return None

    def rejected_keys(self) -> set[str]:
        """The sha256 of every summary already rejected, and unread_key for each one this
        host rejected unread (too large: a file's name means nothing on another host)."""
        rows = self.database.retrying(
            lambda connection: connection.execute(
                "SELECT DISTINCT sha256, NULL FROM rejections WHERE sha256 IS NOT NULL "
                "UNION SELECT DISTINCT source, reason FROM rejections "
                "WHERE sha256 IS NULL AND raw IS NULL AND split_part(host, ':', 1) = %s",
                (socket.gethostname(),),  # host is "name:pid"; a file's name is per machine
            ).fetchall()
        )
        return {str(a) if b is None else unread_key(str(a), str(b)) for a, b in rows}

    def rejected(self, last: int | None = None) -> list[RejectedFile]:
        """The summaries the archive turned away, oldest first (the newest ``last``)."""
        rows = self.database.retrying(
            lambda c: c.execute(
                "SELECT rejected_at, source, reason, sha256, raw IS NOT NULL FROM rejections "
                "ORDER BY id DESC LIMIT %s",
                (last if last is not None else 2**62,),
            ).fetchall()
        )
        return [RejectedFile(*row) for row in reversed(rows)]

    def rejected_count(self) -> int:
        """How many summaries the archive turned away."""
        row = self.database.retrying(
            lambda c: c.execute("SELECT count(*) FROM rejections").fetchone()
        )
        return int(row[0]) if row is not None else 0

    def index_decisions(self) -> int:
        """Decisions are indexed as they are made (one transaction): none are left."""
        return 0
