"""Tests for gating.archive.reindexing: a reindex in two halves, on two threads."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError, ReindexCancelledError, TrainingArchiveManager
from gating.archive import parsing, rebuild
from gating.archive.reindexing import PendingReindex
from tests.conftest import summary_bytes


def test_a_reindex_filled_on_another_thread_is_swapped_in_on_this_one(tmp_path: Path) -> None:
    """The fresh file is filled on a thread of its own while this one archives a run, then
    caught up and swapped in here: the catalog lists every run, and the file is gone."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    begun = archive.writer.begin_reindex()
    assert isinstance(begun, PendingReindex)
    with begun:
        reading = threading.Thread(target=begun.fill)
        reading.start()
        archive.archive_training_run(summary_bytes("meanwhile"))
        reading.join(30)
        assert begun.finish() == 4
    assert [run["run_id"] for run in archive.list_runs()] == ["r0", "r1", "r2", "meanwhile"]
    assert not list(archive.archive_dir.glob(".catalog-rebuild*"))


def test_closing_twice_leaves_a_descriptor_opened_since_alone(tmp_path: Path) -> None:
    """close() is done once: a second call (the ``with`` block after an explicit close) does
    not close the descriptor number the system handed out again meanwhile."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_run(summary_bytes("one"))
    begun = archive.writer.begin_reindex()
    assert isinstance(begun, PendingReindex)
    begun.close()
    reused = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        begun.close()
        os.fstat(reused)  # still open
    finally:
        os.close(reused)


def test_begin_answers_the_runs_when_taking_the_lock_rebuilt_the_catalog(tmp_path: Path) -> None:
    """A catalog deleted before the reindex is rebuilt by the recovery its lock runs: there
    is nothing left to read, and the runs come back at once."""
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(2))
        catalog = archive.catalog_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as again:
        assert again.writer.begin_reindex() == 2


def _parsing_children() -> list[int]:
    """Pids of this process's children that run the parsing module."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == os.getpid() and b"gating.archive.parsing" in command:
            found.append(int(entry.name))
    return found


def test_a_reading_that_fails_stops_its_parsing_processes_though_its_error_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fresh file failing mid-reading (a full disk) while the failure is kept, as the
    service's reading thread keeps it for the worker: the parsing processes are gone at
    once, not when the garbage collector happens to run."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(12))
    monkeypatch.setattr(parsing, "_PROCESS_FROM", 1)
    monkeypatch.setattr(rebuild, "_CHUNK", 2)
    inserted = rebuild.insert_rows

    def full_on_the_second(connection: Any, chunk: Any, damaged: Any) -> int:
        if connection.execute("SELECT count(*) FROM runs").fetchone()[0]:
            raise sqlite3.OperationalError("database or disk is full")
        return inserted(connection, chunk, damaged)

    monkeypatch.setattr(rebuild, "insert_rows", full_on_the_second)
    kept: list[BaseException] = []
    begun = archive.writer.begin_reindex()
    assert isinstance(begun, PendingReindex)
    gc.disable()
    try:
        with begun:
            try:
                begun.fill()
            except ArchiveError as error:
                kept.append(error)  # its traceback holds the reading's frames
            assert kept
            assert _parsing_children() == []
    finally:
        gc.enable()
    assert len(archive.list_runs()) == 12


def test_a_reindex_read_again_under_the_lock_drops_its_first_file_before(
    tmp_path: Path,
) -> None:
    """A run folder removed by hand while the reindex read: every folder is read again under
    the lock, into a second fresh file, and the first is gone by then (two at once would
    need room for two catalogs)."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    fresh_files: list[int] = []

    def progress(_done: int, _total: int) -> None:
        fresh_files.append(len(list(archive.archive_dir.glob(".catalog-rebuild*"))))

    begun = archive.writer.begin_reindex(progress)
    assert isinstance(begun, PendingReindex)
    with begun:
        begun.fill()
        removed = archive.list_runs()[0]["timestamp"]
        shutil.rmtree(archive.archive_dir / removed)
        fresh_files.clear()
        assert begun.finish() == 2
    assert fresh_files == [1]
    assert [run["run_id"] for run in archive.list_runs()] == ["r1", "r2"]


def test_a_reindex_cancelled_while_it_lists_the_folders_reads_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled before the listing ends (a million names take seconds): no record is
    parsed, and the catalog is as it was."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    parsed: list[str] = []
    parse_runs = parsing.parse_runs

    def counted(root: str, names: Any) -> Any:
        parsed.extend(names)
        return parse_runs(root, names)

    monkeypatch.setattr(parsing, "parse_runs", counted)
    begun = archive.writer.begin_reindex(None, lambda: True)
    assert isinstance(begun, PendingReindex)
    with begun, pytest.raises(ReindexCancelledError):
        begun.fill()
    assert parsed == []
    assert len(archive.list_runs()) == 3
