"""Tests for gating.archive.manager used from several threads (as the dashboard does)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from benchmarks.scale import summaries
from gating import TrainingArchiveManager
from gating.archive.layout import LOCK_NAME
from gating.archive.lock import FileLock

RUNS = 1000


@pytest.mark.timeout(120)
def test_readers_wait_while_another_thread_rebuilds(tmp_path: Path) -> None:
    """While one thread rebuilds a damaged catalog, reads on another thread wait for it
    instead of answering from the half-made catalog (no run count but the whole)."""
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as writer:
        writer.archive_training_runs(list(summaries(RUNS, 1)))
        catalog = writer.catalog_path
    for suffix in ("-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    catalog.write_bytes(b"garbage" * 1000)
    reader = TrainingArchiveManager(tmp_path / "archive")
    started, finished = threading.Event(), threading.Event()

    def rebuild() -> None:
        started.set()
        reader.list_runs()
        finished.set()

    thread = threading.Thread(target=rebuild)
    thread.start()
    assert started.wait(10)
    probe = FileLock(tmp_path / "archive" / LOCK_NAME)
    deadline = time.monotonic() + 30
    while probe.try_acquire():  # until the rebuilding thread holds the writer lock
        probe.release()
        assert time.monotonic() < deadline, "the rebuild never took the lock"
    seen = []
    while not finished.is_set():
        seen.append(reader.reader.totals()["runs"])
    thread.join(60)
    seen.append(reader.reader.totals()["runs"])
    assert set(seen) == {RUNS}
    reader.close(fold=False)
