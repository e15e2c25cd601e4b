"""The catalog's tables, its version, and the one step that brings a version-3 file up to date."""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA", "SCHEMA_VERSION", "create", "statements", "upgradable", "upgrade"]

# 2: decisions, verdicts, partial indexes by class; 3: each run's bounds; 4: the tallies;
# 5: decisions keyed by their file's name (two files may share a seq).
SCHEMA_VERSION = 5

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    timestamp TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    run_id TEXT,
    source TEXT,
    approved INTEGER NOT NULL,
    review INTEGER NOT NULL,
    dropped INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_sha256 ON runs (sha256);
CREATE TABLE IF NOT EXISTS models (
    symbol TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    position INTEGER NOT NULL,
    classification TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (symbol, timestamp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS models_by_run ON models (timestamp, position);
CREATE TABLE IF NOT EXISTS damaged (
    timestamp TEXT PRIMARY KEY,
    sha256 TEXT,
    reason TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS damaged_by_sha256 ON damaged (sha256);
"""

# The runs table's count and column sums, kept by triggers in the transaction that changes
# a run, so the home page, /metrics and the review count never scan a million rows.
# (Catalog connections turn recursive_triggers on: INSERT OR REPLACE then fires the delete.)
_TALLIES = """
CREATE TABLE IF NOT EXISTS tallies (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    runs INTEGER NOT NULL,
    approved INTEGER NOT NULL,
    review INTEGER NOT NULL,
    dropped INTEGER NOT NULL
);
INSERT OR REPLACE INTO tallies
    SELECT 1, count(*), total(approved), total(review), total(dropped) FROM runs;
CREATE TRIGGER IF NOT EXISTS run_added AFTER INSERT ON runs BEGIN
    UPDATE tallies SET runs = runs + 1, approved = approved + NEW.approved,
        review = review + NEW.review, dropped = dropped + NEW.dropped;
END;
CREATE TRIGGER IF NOT EXISTS run_removed AFTER DELETE ON runs BEGIN
    UPDATE tallies SET runs = runs - 1, approved = approved - OLD.approved,
        review = review - OLD.review, dropped = dropped - OLD.dropped;
END;
"""

# Decisions (keyed by their file's name), each decided model's verdict, and run bounds.
VERDICT_SCHEMA = """
CREATE INDEX IF NOT EXISTS models_approved ON models (symbol, timestamp)
    WHERE classification = 'APPROVED';
CREATE INDEX IF NOT EXISTS models_review ON models (timestamp, position)
    WHERE classification = 'REVIEW';
CREATE TABLE IF NOT EXISTS decisions (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    symbol TEXT NOT NULL,
    verdict TEXT NOT NULL,
    previous TEXT NOT NULL,
    classification TEXT NOT NULL,
    override INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_model ON decisions (symbol, timestamp, seq, name);
CREATE INDEX IF NOT EXISTS decisions_by_order ON decisions (seq, name);
CREATE TABLE IF NOT EXISTS verdicts (
    symbol TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    verdict TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (symbol, timestamp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS verdicts_by_symbol ON verdicts (symbol, verdict, timestamp);
CREATE TABLE IF NOT EXISTS bounds (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS run_bounds (
    timestamp TEXT PRIMARY KEY,
    bounds INTEGER NOT NULL
) WITHOUT ROWID;
"""

SCHEMA = _TABLES + VERDICT_SCHEMA + _TALLIES


def statements(script: str) -> list[str]:
    """A script's statements, one by one (a trigger's body stays whole)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    return found


def _script(connection: sqlite3.Connection, script: str) -> None:
    """Run a script inside the caller's transaction and stamp the current version.

    (Not executescript: it would commit the caller's transaction first.)
    """
    for statement in statements(script):
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def create(connection: sqlite3.Connection) -> None:
    """Make every table of a new catalog (inside the caller's transaction)."""
    _script(connection, SCHEMA)


def upgradable(version: int) -> bool:
    """Whether a catalog of this version is brought up to date in place (not rebuilt)."""
    return version in (3, 4)


# Version 4 to 5: decisions keyed by name (their rows copied), verdicts recomputed from them.
_REKEY_DROP = """
DROP INDEX IF EXISTS decisions_by_model;
ALTER TABLE decisions RENAME TO decisions_before;
DROP TABLE verdicts;
"""
_REKEY_FILL = """
INSERT INTO decisions (name, seq, timestamp, symbol, verdict, previous, classification,
        override, decided_by, reason, decided_at, run_id)
    SELECT name, seq, timestamp, symbol, verdict, previous, classification, override,
        decided_by, reason, decided_at, run_id FROM decisions_before;
DROP TABLE decisions_before;
INSERT INTO verdicts SELECT d.symbol, d.timestamp, d.verdict, d.seq, d.name FROM decisions AS d
    WHERE d.name = (SELECT e.name FROM decisions AS e
                    WHERE e.symbol = d.symbol AND e.timestamp = d.timestamp
                    ORDER BY e.seq DESC, e.name DESC LIMIT 1);
"""


def upgrade(connection: sqlite3.Connection, version: int) -> None:
    """Bring a version 3 or 4 catalog to this version (inside the caller's transaction):
    3 gains the tallies, counted once; both get decisions keyed by name."""
    tallies = _TALLIES if version == 3 else ""
    _script(connection, "".join((tallies, _REKEY_DROP, VERDICT_SCHEMA, _REKEY_FILL)))
