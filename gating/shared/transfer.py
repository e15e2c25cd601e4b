"""Moving archives between the two kinds: a folder archive into the database (`gatewatch
db import DIR`, idempotent) and the database out as a folder archive (`gatewatch export
DIR`, the layout of SPEC section 4: run folders, decisions, index.json)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import psycopg

from gating.archive.catalog_rows import entry_rows
from gating.archive.catalog_verdicts import bounds_of_entry
from gating.archive.decisions import read_decisions, stored_names, write_decision
from gating.archive.disk import DISK
from gating.archive.durable import fsync_dir, read_regular
from gating.archive.layout import RUN_FILES, Layout, ts_from_micros, ts_micros
from gating.archive.maintenance import Damaged, load_entry
from gating.errors import ArchiveError
from gating.progress import Progress
from gating.shared.database import Database
from gating.shared.review import DECIDE_LOCK
from gating.shared.store import PgStore, insert_decision
from gating.shared.writer import COMMIT_LOCK, now_micros
from gating.verdicts import Decision

__all__ = ["export_folder", "import_folder"]

_FILE_MAX = 1 << 30


def import_folder(
    database: Database, folder: Path, progress: Progress | None = None
) -> tuple[int, int]:
    """Copy a folder archive's runs and decisions in, keeping their timestamps and seqs;
    those already there (the same bytes, the same decision) are passed over. Returns
    (runs added, decisions added). Damaged run folders are not copied (they are named
    in the error when nothing else could be)."""
    layout = Layout(folder)
    if not layout.root.is_dir():
        raise ArchiveError(f"{folder}: no such archive folder")
    names = sorted(layout.run_names())
    if names and ts_micros(names[-1]) > (now := database.retrying(now_micros)):
        raise ArchiveError(
            f"{layout.run(names[-1])}: the run is dated after the database's clock "
            f"({ts_from_micros(now)}): every run archived later would be stamped after it. "
            "Nothing was imported; move that folder out (or set the clock that wrote it "
            "right and rename it)"
        )
    added = 0
    for done, name in enumerate(names, 1):
        try:
            entry = load_entry(layout, name)
            files = {f: read_regular(layout.run(name) / f, _FILE_MAX) for f in RUN_FILES}
        except (Damaged, OSError):
            continue
        added += database.retrying(functools.partial(_import_run, entry=entry, files=files))
        if progress is not None:
            progress(done, len(names))
    decided = 0
    for decision in read_decisions(layout):
        decided += database.retrying(functools.partial(_import_decision, decision=decision))
    return added, decided


def _import_decision(connection: psycopg.Connection, *, decision: Decision) -> int:
    """Insert one decision unless it is there; a number taken by another is an error."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (DECIDE_LOCK,))
    taken = connection.execute(
        "SELECT name FROM decisions WHERE name = %s OR seq = %s", (decision.name, decision.seq)
    ).fetchall()
    if any(row[0] == decision.name for row in taken):
        return 0
    if taken:
        raise ArchiveError(
            f"decision {decision.seq} has a number another decision of the database already "
            "has: import a folder archive before deciding in the database"
        )
    insert_decision(connection, decision)
    return 1


def _import_run(
    connection: psycopg.Connection, *, entry: dict[str, Any], files: dict[str, bytes]
) -> int:
    """Insert one run and its models unless its timestamp or bytes are there already."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
    (timestamp, sha256, run_id, source, approved, review, dropped), models = entry_rows(entry)
    row = connection.execute(
        "INSERT INTO runs (timestamp, sha256, run_id, source, approved, review, dropped, bounds, "
        "summary, record, report, host) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "'import') ON CONFLICT DO NOTHING RETURNING timestamp",
        (timestamp, sha256, run_id, source, approved, review, dropped, bounds_of_entry(entry),
         files["summary.json"], files["model_assessments.json"], files["recommendations.md"]),
    ).fetchone()  # fmt: skip
    if row is None:
        return 0
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO models (symbol, timestamp, position, classification, body) "
            "VALUES (%s, %s, %s, %s, %s)",
            models,
        )
    return 1


def export_folder(store: PgStore, folder: Path, progress: Progress | None = None) -> int:
    """Write every run (its three files) and every decision as a folder archive at
    ``folder``, then its catalog and index.json; runs already there are kept. Returns how
    many runs the folder archive lists."""
    from gating.archive.manager import TrainingArchiveManager  # noqa: PLC0415

    layout = Layout(folder)
    layout.root.mkdir(parents=True, exist_ok=True)
    rows = list(store.runs())
    for done, (timestamp, *_) in enumerate(rows, 1):
        target = layout.run(timestamp)
        if not target.is_dir():
            staging = layout.staging(timestamp)
            staging.mkdir()
            for name in RUN_FILES:
                data = store.run_file(timestamp, name)
                if data is None:
                    raise ArchiveError(f"run {timestamp} left the database during the export")
                DISK.write(staging / name, data, staged=True)
            fsync_dir(staging)
            staging.rename(target)
        if progress is not None:
            progress(done, len(rows))
    fsync_dir(layout.root)
    existing = stored_names(layout)
    for decision in store.decisions():
        if decision.name not in existing:
            write_decision(layout, decision, DISK)
    with TrainingArchiveManager(folder) as archive:
        return archive.reindex()
