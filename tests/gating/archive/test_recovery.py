"""Tests for gating.archive.recovery: hostile derived files are rebuilt, never trusted."""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gating import ReindexCancelledError, TrainingArchiveManager
from gating.archive import layout, maintenance, recovery
from gating.archive.layout import Layout
from gating.archive.recovery import DamageLog
from tests.conftest import plant, summary_bytes

_RUNS = 4


def _archive(root: Path, prefix: str = "r") -> list[str]:
    """An archive of _RUNS runs, closed; their timestamps."""
    with TrainingArchiveManager(root) as manager:
        runs = manager.archive_training_runs([summary_bytes(f"{prefix}{i}") for i in range(_RUNS)])
    return [run.timestamp for run in runs]


def _sql(root: Path, *statements: str) -> None:
    """Run statements on the archive's catalog as a person with the sqlite3 shell would."""
    connection = sqlite3.connect(root / "catalog.sqlite3", isolation_level=None)
    for statement in statements:
        connection.execute(statement)
    connection.close()


def _remove_catalog(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)


def _foreign_database(root: Path) -> None:
    """catalog.sqlite3 is a symlink to another program's database."""
    victim = root.parent / "app.db"
    _sql_file(victim, "CREATE TABLE people (name)", "INSERT INTO people VALUES ('alice')")
    _remove_catalog(root)
    (root / "catalog.sqlite3").symlink_to(victim)


def _sql_file(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        connection.execute(statement)
    connection.close()


def _other_archives_catalog(root: Path) -> None:
    """catalog.sqlite3 is copied from another archive with as many runs."""
    _archive(root.parent / "other", prefix="other")
    _remove_catalog(root)
    (root / "catalog.sqlite3").write_bytes((root.parent / "other" / "catalog.sqlite3").read_bytes())


def _directory(root: Path) -> None:
    _remove_catalog(root)
    (root / "catalog.sqlite3").mkdir()
    (root / "catalog.sqlite3" / "keep.txt").write_text("someone's file\n", "utf-8")


def _newest_row_renamed(root: Path) -> None:
    _sql(
        root,
        "UPDATE runs SET timestamp = 'zzz' WHERE timestamp = (SELECT max(timestamp) FROM runs)",
    )


def _far_future_row(root: Path) -> None:
    _sql(
        root,
        "UPDATE runs SET timestamp = '99991231T235959999999Z' "
        "WHERE timestamp = (SELECT max(timestamp) FROM runs)",
    )


def _garbage_meta(root: Path) -> None:
    _sql(root, "UPDATE meta SET value = 'abc' WHERE key LIKE 'index_json%'")


def _dropped(table: str) -> Callable[[Path], None]:
    def tamper(root: Path) -> None:
        _sql(root, f"DROP TABLE {table}")

    return tamper


def _utf16(root: Path) -> None:
    """A catalog made in UTF-16 (by another tool) with no tables of ours yet."""
    _remove_catalog(root)
    _sql_file(root / "catalog.sqlite3", "PRAGMA encoding = 'UTF-16le'", "CREATE TABLE x (y)")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_foreign_database, id="symlink-to-another-database"),
        pytest.param(_other_archives_catalog, id="another-archives-catalog"),
        pytest.param(_directory, id="a-directory"),
        pytest.param(_newest_row_renamed, id="newest-row-renamed"),
        pytest.param(_far_future_row, id="newest-row-in-year-9999"),
        pytest.param(_garbage_meta, id="garbage-meta"),
        pytest.param(_dropped("decisions"), id="no-decisions-table"),
        pytest.param(_dropped("models"), id="no-models-table"),
        pytest.param(_dropped("run_bounds"), id="no-run-bounds-table"),
        pytest.param(_utf16, id="utf-16"),
    ],
)
def test_a_hostile_catalog_is_rebuilt_from_the_run_folders(
    tmp_path: Path, tamper: Callable[[Path], None]
) -> None:
    """A catalog that is not this archive's own (another program's database behind a
    symlink, another archive's catalog, a directory, edited rows, a lost table, another
    encoding) is rebuilt by the next writer: every run is listed, a summary archived
    before is a duplicate, the next run is stamped after the newest folder, and nothing
    outside the catalog's own files is touched."""
    root = tmp_path / "a"
    stamps = _archive(root)
    tamper(root)
    manager = TrainingArchiveManager(root, lock_timeout=5)
    again = manager.archive_training_run(summary_bytes("r0"))
    added = manager.archive_training_run(summary_bytes("new"))
    assert (again.duplicate, again.timestamp) == (True, stamps[0])
    assert not added.duplicate
    assert added.timestamp > stamps[-1]
    assert [run["timestamp"] for run in manager.list_runs()] == [*stamps, added.timestamp]
    assert sorted(p.name for p in root.iterdir() if p.name[:1].isdigit()) == [
        *stamps,
        added.timestamp,
    ]
    manager.close()
    assert not (root / "catalog.sqlite3").is_symlink()
    victim = tmp_path / "app.db"
    if victim.exists():
        people = sqlite3.connect(victim).execute("SELECT name FROM people").fetchall()
        assert people == [("alice",)]
    moved = [p for p in root.iterdir() if p.name.startswith("catalog.sqlite3.moved-aside-")]
    if tamper is _directory:
        assert (moved[0] / "keep.txt").read_text("utf-8") == "someone's file\n"


def test_a_reader_rebuilds_a_catalog_that_lost_a_table(tmp_path: Path) -> None:
    """A reader whose query meets a catalog without its tables rebuilds it and answers."""
    root = tmp_path / "a"
    stamps = _archive(root)
    _sql(root, "DROP TABLE verdicts")
    manager = TrainingArchiveManager(root, lock_timeout=5)
    assert manager.get_approved_models() == manager.get_approved_models(stamps[-1])
    manager.close()


def test_an_index_json_that_cannot_be_written_does_not_stop_archiving(tmp_path: Path) -> None:
    """index.json in the way (a directory) is derived: runs are still archived, and the
    next compaction moves the directory aside (not ours to delete) and writes the file."""
    root = tmp_path / "a"
    stamps = _archive(root)
    (root / "index.json").unlink()
    (root / "index.json").mkdir()
    manager = TrainingArchiveManager(root, lock_timeout=5)
    added = manager.archive_training_run(summary_bytes("new"))
    assert [run["timestamp"] for run in manager.list_runs()] == [*stamps, added.timestamp]
    # Compaction moves the directory aside and writes index.json (it failed at every one).
    assert manager.compact() == len(stamps) + 1
    assert json.loads((root / "index.json").read_text("utf-8"))["runs"][-1]["run_id"] == "new"
    assert len(list(root.glob("index.json.moved-aside-*"))) == 1
    manager.close(fold=False)


def test_fresh_catalogs_left_behind_are_litter_and_do_not_stop_reindex(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh catalog nobody holds is removed (a dead builder's, even under a pid that is
    alive again, or an older version's name); a directory under the name this reindex
    takes is cleared first; a file whose builder holds its flock is kept."""
    root = tmp_path / "a"
    stamps = _archive(root)
    (root / f".catalog-rebuild.{os.getpid()}-999.tmp").write_bytes(b"half a catalog")
    (root / ".catalog-rebuild.tmp").write_bytes(b"an older version's")
    monkeypatch.setattr(layout, "_FRESH_NUMBERS", itertools.count(1))
    (root / f".catalog-rebuild.{os.getpid()}-1.tmp").mkdir()
    with TrainingArchiveManager(root, lock_timeout=5) as manager:
        assert manager.reindex() == len(stamps)
    assert not list(root.glob(".catalog-rebuild*"))
    building = root / layout.fresh_name()
    building.write_bytes(b"being filled")
    with building.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert maintenance.clear_litter(Layout(root)) == 0
        assert building.exists()
    assert maintenance.clear_litter(Layout(root)) == 1
    assert not building.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "symlink", "symlink to a locked file"])
def test_a_fifo_or_symlink_named_as_a_fresh_catalog_is_swept_without_harm(
    tmp_path: Path, kind: str
) -> None:
    """Recovery looking at a FIFO or a symlink under a fresh catalog's name never blocks
    on it and never follows it: the name is removed, the symlink's target left whole."""
    root = tmp_path / "a"
    stamps = _archive(root)
    victim = tmp_path / "someone-elses.db"
    victim.write_bytes(b"precious")
    name = root / f".catalog-rebuild.{os.getpid()}-77.tmp"
    if kind == "fifo":
        os.mkfifo(name)
    else:
        name.symlink_to(victim)
    with victim.open("rb") as held:
        if kind == "symlink to a locked file":
            fcntl.flock(held, fcntl.LOCK_EX)  # the target's lock is not a builder's
        assert maintenance.clear_litter(Layout(root)) == 1
    assert not os.path.lexists(name)
    assert victim.read_bytes() == b"precious"
    with TrainingArchiveManager(root, lock_timeout=5) as manager:
        assert manager.reindex() == len(stamps)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("DROP TABLE runs", id="no-runs-table"),
        pytest.param("UPDATE models SET body = '{not json'", id="cut-records"),
        pytest.param("UPDATE models SET body = x'00ff'", id="binary-records"),
    ],
)
def test_a_lazy_query_on_a_damaged_catalog_rebuilds_it(tmp_path: Path, statement: str) -> None:
    """Listings read lazily (runs, a symbol's history) rebuild a catalog damaged under
    their first page, as the other queries do, instead of failing in the caller's loop."""
    root = tmp_path / "a"
    stamps = _archive(root)
    _sql(root, statement)
    manager = TrainingArchiveManager(root, lock_timeout=5)
    assert [run["timestamp"] for run in manager.list_runs()] == stamps
    assert [record["timestamp"] for record in manager.get_symbol_history("SYM0")] == stamps
    manager.close()


def test_a_cancelled_rebuild_at_recovery_is_done_by_the_next_writer(tmp_path: Path) -> None:
    """recover() with ``cancelled`` turning true mid-rebuild stops (ReindexCancelledError),
    following its progress; the next writer rebuilds the catalog whole."""
    root = tmp_path / "a"
    with TrainingArchiveManager(root, durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(1100))
    _remove_catalog(root)
    seen: list[tuple[int, int]] = []
    manager = TrainingArchiveManager(root)
    with pytest.raises(ReindexCancelledError):
        manager.recover(lambda done, total: seen.append((done, total)), lambda: bool(seen))
    manager.close(fold=False)
    assert seen == [(500, 1100)]
    with TrainingArchiveManager(root) as again:
        assert len(again.list_runs()) == 1100


def test_a_second_other_damage_to_a_file_is_logged_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same damage met twice is one line; another damage to the same file later in
    the same process is a line of its own (a long-running service said nothing of it)."""
    damage = DamageLog()
    catalog = tmp_path / "catalog.sqlite3"
    with caplog.at_level(logging.WARNING):
        damage.file(catalog, "cut to 0 bytes")
        damage.file(catalog, "cut to 0 bytes")
        damage.file(catalog, "a directory")
    errors = [getattr(r, "error", "") for r in caplog.records if r.getMessage() == "index_damaged"]
    assert errors == ["cut to 0 bytes", "a directory"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "symlink to a run file", "file"])
def test_a_staging_name_that_is_no_folder_is_swept_without_harm(tmp_path: Path, kind: str) -> None:
    """A FIFO, a symlink or a file under a staging folder's name is removed without
    blocking on it or following it (a FIFO hung every writer holding the lock)."""
    root = tmp_path / "a"
    stamps = _archive(root)
    summary = root / stamps[0] / "summary.json"
    before = summary.read_bytes()
    name = root / ".staging-x"
    if kind == "fifo":
        os.mkfifo(name)
    elif kind == "file":
        name.write_bytes(b"x")
    else:
        name.symlink_to(summary)
    assert maintenance.clear_litter(Layout(root)) == 1
    assert not os.path.lexists(name)
    assert summary.read_bytes() == before


@pytest.mark.timeout(30)
@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
@pytest.mark.parametrize("kind", ["folder", "symlink to another file", "fifo"])
def test_a_catalog_wal_or_shared_memory_that_is_no_file_is_damage(
    tmp_path: Path, suffix: str, kind: str
) -> None:
    """The catalog's -wal or -shm as a folder, a FIFO or a symlink: the catalog is rebuilt
    and archiving goes on (a folder made every write fail as 'readonly'); a symlink's
    target is never written, a folder is moved aside."""
    root = tmp_path / "a"
    stamps = _archive(root)
    victim = tmp_path / "someone-elses.db"
    victim.write_bytes(b"precious")
    name = root / f"catalog.sqlite3{suffix}"
    name.unlink(missing_ok=True)
    plant(name, kind, victim)
    with TrainingArchiveManager(root, lock_timeout=5) as manager:
        added = manager.archive_training_run(summary_bytes("new"))
        assert [run["timestamp"] for run in manager.list_runs()] == [*stamps, added.timestamp]
    assert victim.read_bytes() == b"precious"
    assert not name.is_symlink()
    moved = [p for p in root.iterdir() if p.name.startswith(f"catalog.sqlite3{suffix}.moved-")]
    assert len(moved) == (kind == "folder")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["symlink loop", "fifo", "symlink to a run file"])
def test_an_index_json_that_is_no_file_is_written_anew(tmp_path: Path, kind: str) -> None:
    """index.json as a symlink (to itself, or to a run's summary) or a FIFO: the next
    writer writes it anew, never through the link (a loop kept the service from
    starting, and compact and reindex failed)."""
    root = tmp_path / "a"
    stamps = _archive(root)
    summary = root / stamps[0] / "summary.json"
    before = summary.read_bytes()
    index = root / "index.json"
    index.unlink()
    if kind == "fifo":
        os.mkfifo(index)
    else:
        index.symlink_to("index.json" if kind == "symlink loop" else summary)
    with TrainingArchiveManager(root, lock_timeout=5) as manager:
        assert manager.compact() == len(stamps)
    assert not index.is_symlink()
    assert [run["timestamp"] for run in json.loads(index.read_bytes())["runs"]] == stamps
    assert summary.read_bytes() == before


def test_adding_the_runs_the_catalog_lacks_says_how_far_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs published but not catalogued (a crash) are added with progress(read, of) once
    a second has gone by (here at once), so a service can ask systemd for more time."""
    monkeypatch.setattr(recovery, "_QUIET_SECONDS", 0.0)
    archive = tmp_path / "a"
    with TrainingArchiveManager(archive) as manager:
        runs = manager.archive_training_runs([summary_bytes(f"r{i}") for i in range(3)])
    with sqlite3.connect(archive / "catalog.sqlite3") as catalog:  # as if a crash came first
        catalog.execute("DELETE FROM runs WHERE timestamp > ?", (runs[0].timestamp,))
        catalog.execute("DELETE FROM models WHERE timestamp > ?", (runs[0].timestamp,))
    seen: list[tuple[int, int]] = []
    with TrainingArchiveManager(archive) as fresh:
        assert fresh.recover(lambda done, total: seen.append((done, total))) == 2
    assert seen == [(1, 2), (2, 2)]


def test_a_wal_deleted_under_an_open_writer_is_damage_and_rebuilt(tmp_path: Path) -> None:
    """The catalog's WAL deleted while a writer has it open: another process's reads find
    it short (SQLITE_IOERR_SHORT_READ), which is damage, rebuilt from the run folders (every
    reader failed 'cannot be used now' for as long as the writer ran)."""
    archive = tmp_path / "a"
    writer = TrainingArchiveManager(archive)
    writer.archive_training_runs([summary_bytes(f"r{i}") for i in range(3)])
    os.unlink(archive / "catalog.sqlite3-wal")
    with TrainingArchiveManager(archive) as reader:
        assert len(reader.list_runs()) == 3
        writer.archive_training_run(summary_bytes("later"))
        assert len(reader.list_runs()) == len(writer.list_runs()) == 4
    writer.close()
