"""Shared mode's tables in PostgreSQL, their version, and ``upgrade`` (one transaction).

The database holds the archive itself, not a derived copy: each run's summary bytes,
record and report beside its row. A process that finds another version refuses to start;
only ``gatewatch db upgrade`` changes the schema, under an advisory lock.
"""

from __future__ import annotations

import psycopg

from gating.errors import GatingError

__all__ = ["SCHEMA_VERSION", "SchemaError", "check", "upgrade", "version"]

SCHEMA_VERSION = 1
UPGRADE_LOCK = 0x6761_7465_0001  # pg_advisory_xact_lock key of `db upgrade`

_TABLES = [
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE runs (
        timestamp text COLLATE "C" PRIMARY KEY,
        sha256 text COLLATE "C" NOT NULL UNIQUE,
        run_id text,
        source text,
        approved integer NOT NULL,
        review integer NOT NULL,
        dropped integer NOT NULL,
        bounds text,
        summary bytea NOT NULL,
        record bytea NOT NULL,
        report bytea NOT NULL,
        host text NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE TABLE models (
        symbol text COLLATE "C" NOT NULL,
        timestamp text COLLATE "C" NOT NULL REFERENCES runs ON DELETE CASCADE,
        position integer NOT NULL,
        classification text NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (symbol, timestamp)
    )""",
    "CREATE INDEX models_by_run ON models (timestamp, position)",
    """CREATE INDEX models_approved ON models (symbol, timestamp DESC)
        WHERE classification = 'APPROVED'""",
    """CREATE INDEX models_review ON models (timestamp DESC, position)
        WHERE classification = 'REVIEW'""",
    """CREATE TABLE decisions (
        name text COLLATE "C" PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        timestamp text COLLATE "C" NOT NULL,
        symbol text COLLATE "C" NOT NULL,
        verdict text NOT NULL,
        previous text NOT NULL,
        classification text NOT NULL,
        override boolean NOT NULL,
        decided_by text NOT NULL,
        reason text NOT NULL,
        decided_at text COLLATE "C" NOT NULL,
        run_id text,
        FOREIGN KEY (symbol, timestamp) REFERENCES models
    )""",
    "CREATE INDEX decisions_by_model ON decisions (symbol, timestamp, seq)",
    """CREATE TABLE rejections (
        id bigserial PRIMARY KEY,
        sha256 text,
        source text NOT NULL,
        reason text NOT NULL,
        raw bytea,
        rejected_at text NOT NULL,
        host text NOT NULL
    )""",
    "CREATE INDEX rejections_by_sha256 ON rejections (sha256)",
    """CREATE TABLE events (
        position bigserial PRIMARY KEY,
        id text NOT NULL,
        type text NOT NULL,
        body text NOT NULL
    )""",
    """CREATE TABLE deliveries (
        target text PRIMARY KEY,
        cursor bigint NOT NULL DEFAULT 0,
        delivered bigint NOT NULL DEFAULT 0,
        failed bigint NOT NULL DEFAULT 0,
        epoch bigint NOT NULL DEFAULT 0,
        holder text,
        lease_until timestamptz
    )""",
    """CREATE TABLE failed_events (
        target text NOT NULL,
        position bigint NOT NULL,
        error text NOT NULL,
        attempts integer NOT NULL,
        failed_at text NOT NULL,
        PRIMARY KEY (target, position)
    )""",
    """CREATE TABLE services (
        host text NOT NULL,
        pid integer NOT NULL,
        version text NOT NULL,
        started timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        PRIMARY KEY (host, pid)
    )""",
]


# Columns added to version 1 before any release: a database an early build made lacks them
# (its senders could not move their cursors), and `db upgrade` adds them.
_SINCE_EARLY_BUILDS = [
    "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS delivered bigint NOT NULL DEFAULT 0",
    "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS failed bigint NOT NULL DEFAULT 0",
]


class SchemaError(GatingError, RuntimeError):
    """The database has no gatewatch schema, or one of another version."""


def version(connection: psycopg.Connection) -> int | None:
    """The schema version the database has (None: no gatewatch schema at all)."""
    row = connection.execute(
        "SELECT to_regclass('meta') IS NOT NULL AND "
        "EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'runs')"
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if found is None or not str(found[0]).isdigit():  # the tables are there: edited by hand
        shown = "missing" if found is None else repr(found[0])
        raise SchemaError(
            f"the schema's version in its meta table is {shown} (edited by hand?): restore "
            "the row schema_version with the version it was upgraded to"
        )
    return int(found[0])


def check(connection: psycopg.Connection, where: str) -> None:
    """Refuse (SchemaError, one line) unless the database has this version's schema."""
    try:
        found = version(connection)
    except SchemaError as error:
        raise SchemaError(f"{where}: {error}") from None
    if found == SCHEMA_VERSION:
        return
    if found is None:
        raise SchemaError(f"{where}: no gatewatch schema: run `gatewatch db upgrade` first")
    newer = "a newer" if found > SCHEMA_VERSION else "an older"
    action = "upgrade gatewatch" if found > SCHEMA_VERSION else "run `gatewatch db upgrade`"
    raise SchemaError(
        f"{where}: schema version {found} is {newer} one than this gatewatch's "
        f"({SCHEMA_VERSION}): {action}"
    )


def upgrade(connection: psycopg.Connection) -> tuple[int | None, int]:
    """Bring the schema to this version in one transaction, under an advisory lock
    (two upgrades at once: the second finds the work done). Returns (before, after)."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        before = version(connection)
        if before is not None and before > SCHEMA_VERSION:
            raise SchemaError(
                f"schema version {before} is newer than this gatewatch's ({SCHEMA_VERSION})"
            )
        if before is None:
            for statement in _TABLES:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),)
            )
        else:
            for statement in _SINCE_EARLY_BUILDS:
                connection.execute(statement)
    return before, SCHEMA_VERSION
