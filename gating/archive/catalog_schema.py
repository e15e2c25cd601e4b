"""The catalog's tables and its version (a file of another version is rebuilt)."""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA", "SCHEMA_VERSION", "create", "statements"]

# 2: decisions, verdicts, partial indexes by class; 3: each run's bounds; 4: the tallies;
# 5: decisions keyed by their file's name (two files may share a seq); 6: models stored
# by run, found by symbol through an index (a run added alone writes a third fewer pages).
SCHEMA_VERSION = 6

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
    PRIMARY KEY (timestamp, position)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS models_by_symbol ON models (symbol, timestamp);
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


def create(connection: sqlite3.Connection) -> None:
    """Make every table of a new catalog and stamp its version, inside the caller's
    transaction (not executescript: it would commit that transaction first)."""
    for statement in statements(SCHEMA):
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
