"""SharedArchive: a TrainingArchiveManager whose archive lives in PostgreSQL.

The same composite as the folder archive (a reader, a writer, a review desk), with the
shared parts: every method of the library's API works as it does on a folder, from any
number of processes and hosts at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from gating.archive.disk import DISK, Disk
from gating.archive.layout import Layout
from gating.archive.manager import TrainingArchiveManager
from gating.archive.reader import run_query
from gating.arguments import folder, gating_config
from gating.errors import ArchiveError
from gating.rules import ModelGatingConfig
from gating.shared import schema
from gating.shared.database import RETRY_SECONDS, Database, first_line
from gating.shared.review import SharedReader, SharedReview
from gating.shared.store import PgStore
from gating.shared.writer import SharedWriter
from gating.thresholds import DEFAULT_MAX_BYTES

__all__ = ["SharedArchive", "upgrade"]


class SharedArchive(TrainingArchiveManager):
    """The archive in the PostgreSQL database ``url`` (no password in it: $PGPASSWORD or a
    PGPASSFILE). ``archive_dir`` is the local folder of this host's service (its status
    and lock); runs, decisions and events are in the database. ``disk`` writes no file
    here, but a commit passes its named steps (``shared:before_commit``, inside the
    transaction, and ``shared:committed``), where tests crash a host.

    Opening checks the schema: SchemaError (one line) when `gatewatch db upgrade` is
    needed, or when the database is of a newer gatewatch.
    """

    def __init__(
        self,
        url: str,
        config: ModelGatingConfig | None = None,
        *,
        archive_dir: str | os.PathLike[str] = "training_archives",
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        pool_size: int = 4,
        retry_seconds: float | None = None,
        disk: Disk = DISK,
    ) -> None:
        # Not TrainingArchiveManager.__init__: the parts are the shared ones.
        config = gating_config("config", config)
        self.archive_dir = Path(folder("archive_dir", archive_dir))
        self.layout = Layout(self.archive_dir)
        self.database = Database(
            url, max_size=pool_size, retry_seconds=RETRY_SECONDS if retry_seconds is None
            else retry_seconds,
        )  # fmt: skip
        try:
            with self.database.connection() as connection:
                schema.check(connection, self.database.where)
        except psycopg.Error as error:  # a role without rights, say
            raise ArchiveError(f"{self.database.where}: {first_line(error)}") from None
        store = PgStore(self.database.retrying)
        self.store = store
        self.writer = SharedWriter(
            self.database,
            store,
            config or ModelGatingConfig(),
            max_file_bytes=max_file_bytes,
            disk=disk,
        )
        reader = SharedReader(self.layout, store, run_query)
        self.reader = reader
        self.review = SharedReview(self.database, store, reader)

    # --- the services that write into it ----------------------------------------------

    def write_problem(self) -> str | None:
        """Why this database role cannot archive (no INSERT on a table a service writes),
        or None: a role that may only read started as healthy and failed every file."""

        missing = self.database.retrying(
            lambda c: [
                str(row[0])
                for row in c.execute(
                    "SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS w(t, n) "
                    "WHERE NOT has_table_privilege(t, 'INSERT') ORDER BY n",
                    (list(_WRITTEN),),
                )
            ]
        )
        if not missing:
            return None
        return (
            f"{self.database.where}: this role may not write {', '.join(missing)} "
            "(GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO it)"
        )

    def heartbeat(self, host: str, pid: int, version: str, started: float) -> None:
        """Say that the service ``host:pid`` runs (by the database's clock); once, no retry
        (the next heartbeat comes soon). A service not seen for FORGET_SECONDS (killed,
        its host gone: it said no goodbye) is no longer listed."""
        with self.database.connection() as connection:
            connection.execute(
                "WITH forgotten AS (DELETE FROM services WHERE (host, pid) <> (%(host)s, %(pid)s) "
                "AND last_seen < clock_timestamp() - make_interval(secs => %(forget)s)) "
                "INSERT INTO services VALUES "
                "(%(host)s, %(pid)s, %(version)s, to_timestamp(%(started)s), clock_timestamp()) "
                "ON CONFLICT (host, pid) DO UPDATE SET last_seen = clock_timestamp(), "
                "version = excluded.version",
                dict(host=host, pid=pid, version=version, started=started, forget=FORGET_SECONDS),
            )

    def farewell(self, host: str, pid: int) -> None:
        """The service ``host:pid`` stopped: it is no longer listed."""
        with self.database.connection() as connection:
            connection.execute("DELETE FROM services WHERE host = %s AND pid = %s", (host, pid))

    def services(self) -> list[dict[str, object]]:
        """Every service heartbeating into the database, most recently seen first: host,
        pid, version, started, last_seen (ISO, UTC) and seconds since (the database's clock);
        a row of infinite or future times is no service's."""
        rows = self.database.retrying(
            lambda c: c.execute(
                "SELECT host, pid, version, "
                "to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                "to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                "extract(epoch FROM clock_timestamp() - last_seen)::float8 "
                "FROM services WHERE isfinite(started) AND isfinite(last_seen) "
                "AND last_seen < clock_timestamp() + interval '1 minute' "  # no row written by
                "ORDER BY last_seen DESC"  # hand that says it is seen for ever (or breaks this)
            ).fetchall()
        )
        keys = ("host", "pid", "version", "started", "last_seen", "seen_seconds_ago")
        return [dict(zip(keys, row, strict=True)) for row in rows]


_WRITTEN = ("runs", "models", "rejections", "events", "services")  # by every service
# A service not seen for a day is forgotten by the next heartbeat of any other; until then
# `status` lists it apart, as gone (a day spans a night: someone sees it).
FORGET_SECONDS = 24 * 3600.0


def upgrade(url: str) -> tuple[int | None, int]:
    """`gatewatch db upgrade`: bring the database's schema to this version (see schema)."""
    database = Database(url, max_size=1)
    try:
        with database.connection() as connection:
            return schema.upgrade(connection)
    except psycopg.Error as error:  # a role that may not create tables, say
        raise ArchiveError(f"{database.where}: {first_line(error)}") from None
    finally:
        database.close()
