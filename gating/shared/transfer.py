"""Moving archives between the two kinds: a folder archive into the database (`gatewatch
db import DIR`, idempotent) and the database out as a folder archive (`gatewatch export
DIR`, the layout of SPEC section 4: run folders, decisions, index.json)."""

from __future__ import annotations

import functools
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from gating.archive.catalog_rows import entry_rows
from gating.archive.catalog_verdicts import bounds_of_entry
from gating.archive.decisions import read_decisions, stored_names, write_decision
from gating.archive.disk import DISK
from gating.archive.durable import fsync_dir, not_ours, read_regular, unreadable_now
from gating.archive.layout import RUN_FILES, Layout, ts_from_micros, ts_micros
from gating.archive.maintenance import Damaged, load_entry
from gating.errors import ArchiveError
from gating.progress import Progress
from gating.shared.database import Database
from gating.shared.store import PgStore, insert_decision
from gating.shared.writer import COMMIT_LOCK, now_micros
from gating.verdicts import Decision

__all__ = ["Imported", "export_folder", "import_folder"]

_FILE_MAX = 1 << 30
_OTHER_BYTES = ""  # _import_run's answer: the run's timestamp holds other bytes


@dataclass(frozen=True, slots=True)
class Imported:
    """What `db import` did: runs and decisions added, and what it passed over, and why."""

    runs: int
    decisions: int
    runs_passed_over: tuple[str, ...] = ()  # run folders not imported, each with why
    passed_over: tuple[str, ...] = ()  # decisions not imported, each with why


def import_folder(database: Database, folder: Path, progress: Progress | None = None) -> Imported:
    """Copy a folder archive's runs and decisions in, keeping their timestamps and seqs;
    those already there (the same bytes, the same decision) are passed over, and so is
    what cannot be imported (a damaged run folder; a decision whose run is not in the
    database, or whose number another decision has), each named in the result: the rest
    is imported all the same, and importing again does the same (it stopped at the first
    such decision, every time)."""
    layout = Layout(folder)
    if not layout.root.is_dir():
        raise ArchiveError(f"{folder}: no such archive folder")
    names = sorted(layout.run_names())
    if not names and not any(p.exists() for p in (layout.decisions, layout.catalog, layout.index)):
        raise ArchiveError(
            f"{folder}: no run folders, decisions, catalog or index.json: not a folder archive "
            "(name the archive's folder itself)"
        )
    if names and ts_micros(names[-1]) > (now := database.retrying(now_micros)):
        raise ArchiveError(
            f"{layout.run(names[-1])}: the run is dated after the database's clock "
            f"({ts_from_micros(now)}): every run archived later would be stamped after it. "
            "Nothing was imported; move that folder out (or set the clock that wrote it "
            "right and rename it)"
        )
    added, skipped = 0, []
    stored_as: dict[str, str] = {}  # a run whose bytes the database holds under another name
    for done, name in enumerate(names, 1):
        try:
            entry = load_entry(layout, name)
            files = {f: read_regular(layout.run(name) / f, _FILE_MAX) for f in RUN_FILES}
        except OSError as error:
            if isinstance(error, ArchiveError):  # load_entry's: the record, named
                skipped.append(f"{name}: {error}; import again")
            elif not not_ours(error):
                skipped.append(f"{name}: {unreadable_now(error.filename, error)}; import again")
            else:  # a run file missing, or not a regular file: named with why
                what = Path(error.filename).name if error.filename else "a run file"
                skipped.append(f"{name}: damaged ({what}: {error.strerror or error})")
            continue
        except Damaged:
            skipped.append(f"{name}: damaged (`gatewatch reindex` of the folder says why)")
            continue
        if hashlib.sha256(files["summary.json"]).hexdigest() != entry.get("sha256"):
            skipped.append(f"{name}: its summary.json is not the bytes its record names (edited?)")
            continue
        held = database.retrying(functools.partial(_import_run, entry=entry, files=files))
        if held is None:
            added += 1
        elif held == _OTHER_BYTES:  # two hosts' clocks gave two runs one timestamp
            skipped.append(f"{name}: the database holds other bytes under its timestamp")
            stored_as[name] = _OTHER_BYTES
        elif held != name:
            stored_as[name] = held
        if progress is not None:
            progress(done, len(names))
    decided, passed = 0, []

    def damaged(path: Path, why: str) -> None:  # a DROP passed over in silence: deployable
        passed.append(f"decision file {path.name}: damaged ({why})")

    for decision in read_decisions(layout, damaged=damaged):
        run = stored_as.get(decision.timestamp, decision.timestamp)
        if run == _OTHER_BYTES:  # never onto the database's run of that timestamp
            passed.append(f"decision {decision.seq} ({decision.name}): its run is not imported")
            continue
        moved = decision if run == decision.timestamp else replace(decision, timestamp=run)
        why = database.retrying(functools.partial(_import_decision, decision=moved))
        if why is None:
            decided += 1
        elif why:
            passed.append(f"decision {decision.seq} ({decision.name}): {why}")
    return Imported(added, decided, tuple(skipped), tuple(passed))


def _import_decision(connection: psycopg.Connection, *, decision: Decision) -> str | None:
    """Insert one decision: None when inserted, "" when it is there already, else why not."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
    taken = connection.execute(
        "SELECT name FROM decisions WHERE name = %s OR seq = %s", (decision.name, decision.seq)
    ).fetchall()
    if any(row[0] == decision.name for row in taken):
        return ""
    if taken:
        return (
            "its number is another decision's in the database (import folder archives "
            "before deciding in the database)"
        )
    model = connection.execute(
        "SELECT 1 FROM models WHERE symbol = %s AND timestamp = %s",
        (decision.symbol, decision.timestamp),
    ).fetchone()
    if model is None:
        return f"its run {decision.timestamp} (or its model {decision.symbol}) is not imported"
    insert_decision(connection, decision)
    return None


def _import_run(
    connection: psycopg.Connection, *, entry: dict[str, Any], files: dict[str, bytes]
) -> str | None:
    """Insert one run and its models unless its timestamp or bytes are there already:
    None when inserted, else the timestamp the database holds those bytes under, or
    _OTHER_BYTES when that timestamp holds other bytes."""
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
        held = connection.execute(
            "SELECT timestamp FROM runs WHERE sha256 = %s", (sha256,)
        ).fetchone()
        return _OTHER_BYTES if held is None else str(held[0])  # else: its timestamp's taken
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO models (symbol, timestamp, position, classification, body) "
            "VALUES (%s, %s, %s, %s, %s)",
            models,
        )
    return None


def export_folder(store: PgStore, folder: Path, progress: Progress | None = None) -> int:
    """Write every run (its three files) and every decision as a folder archive at
    ``folder``, then its catalog and index.json; runs already there are kept. Returns how
    many runs the folder archive lists.

    It holds the folder archive's writer lock throughout (a service writing there waits),
    and its recovery first removes what an interrupted export left (its staging folder
    stopped every later export). A decision whose number a decision file of the folder
    has under another name (a folder archive decided in apart) stops it before anything
    is written."""
    from gating.archive.manager import TrainingArchiveManager  # noqa: PLC0415
    from gating.archive.writer import ArchiveWriter  # noqa: PLC0415

    layout = Layout(folder)
    layout.root.mkdir(parents=True, exist_ok=True)
    with TrainingArchiveManager(folder) as archive:
        writer = archive.writer
        assert isinstance(writer, ArchiveWriter)  # a folder archive's
        with writer.writing("export"):
            return _export(store, layout, archive.reindex, progress)


def _export(
    store: PgStore, layout: Layout, reindex: Callable[[], int], progress: Progress | None
) -> int:
    """export_folder's work, under the folder archive's writer lock."""
    decisions = store.decisions()
    _check_numbers(layout, decisions)
    rows = list(store.runs())
    for done, (timestamp, *_) in enumerate(rows, 1):
        if not layout.run(timestamp).is_dir():
            _export_run(store, layout, timestamp)
        if progress is not None:
            progress(done, len(rows))
    fsync_dir(layout.root)
    existing = stored_names(layout)
    for decision in decisions:
        if decision.name not in existing:
            write_decision(layout, decision, DISK)
    return reindex()


def _check_numbers(layout: Layout, decisions: list[Decision]) -> None:
    """ArchiveError when a decision's number is a decision file's of another name."""
    numbers = {d.seq: d.name for d in read_decisions(layout)}
    for decision in decisions:
        other = numbers.get(decision.seq)
        if other is not None and other != decision.name:
            raise ArchiveError(
                f"{layout.decisions}: decision {decision.seq} of the database has the number "
                f"of the folder's {other} (the folder was decided in apart): nothing was "
                "exported; export into a new folder"
            )


def _export_run(store: PgStore, layout: Layout, timestamp: str) -> None:
    """Write one run folder by a staging folder, removed again if anything fails."""
    staging = layout.staging(timestamp)
    staging.mkdir()
    try:
        for name in RUN_FILES:
            data = store.run_file(timestamp, name)
            if data is None:
                raise ArchiveError(f"run {timestamp} left the database during the export")
            DISK.write(staging / name, data, staged=True)
        fsync_dir(staging)
        staging.rename(layout.run(timestamp))
    except BaseException:  # Ctrl-C, SIGTERM, a full disk: no half run folder stays
        shutil.rmtree(staging, ignore_errors=True)
        raise
