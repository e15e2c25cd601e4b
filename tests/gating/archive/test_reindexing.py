"""Tests for gating.archive.reindexing: a reindex in two halves, on two threads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gating import TrainingArchiveManager
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
