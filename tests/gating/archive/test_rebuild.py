"""Tests for gating.archive.rebuild: a fresh catalog built beside the live one, swapped in."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError, ReindexCancelledError, TrainingArchiveManager
from gating.archive import catalog_file, maintenance, parsing, rebuild
from gating.archive.maintenance import index_state
from tests.conftest import summary_bytes


def _archive(root: Path, count: int) -> list[str]:
    """An archive of ``count`` runs, a copy of the second under a later name (a duplicate)
    and a folder whose record is cut short (damaged); the runs' timestamps."""
    with TrainingArchiveManager(root) as manager:
        stamps = [
            run.timestamp
            for run in manager.archive_training_runs([summary_bytes(f"r{i}") for i in range(count)])
        ]
    copy = root / "29990101T000000000000Z"
    shutil.copytree(root / stamps[1], copy)
    record = copy / "model_assessments.json"
    record.write_bytes(record.read_bytes().replace(stamps[1].encode(), copy.name.encode()))
    record = root / stamps[2] / "model_assessments.json"
    record.write_bytes(record.read_bytes()[:20])
    return stamps


def _contents(manager: TrainingArchiveManager) -> dict[str, Any]:
    """Everything a rebuild decides: runs, each symbol's history, damaged folders."""
    reader = manager.reader
    return {
        "runs": reader.list_runs(),
        "history": {s: reader.get_symbol_history(s) for s in reader.symbols()},
        "damaged": reader.damaged_runs(),
    }


@pytest.mark.timeout(120)
def test_a_second_process_parses_the_same_catalog_as_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsed by a second process in small chunks or here, the rebuilt catalog is the same,
    duplicates and damaged folders included; the fresh file is gone after."""
    stamps = _archive(tmp_path / "a", 12)
    with TrainingArchiveManager(tmp_path / "a") as manager:
        assert manager.reindex() == 11  # 12 runs, one damaged; the copy is a duplicate
        here = _contents(manager)
    monkeypatch.setattr(parsing, "_PROCESS_FROM", 1)
    monkeypatch.setattr(rebuild, "_CHUNK", 2)
    with TrainingArchiveManager(tmp_path / "a") as manager:
        assert manager.reindex() == 11
        assert _contents(manager) == here
    damaged = dict(here["damaged"])
    assert set(damaged) == {stamps[2], "29990101T000000000000Z"}
    assert damaged["29990101T000000000000Z"] == f"the same summary as run {stamps[1]}"
    assert not list((tmp_path / "a").glob(".catalog-rebuild*"))


def test_a_reader_sees_the_old_catalog_until_the_new_one_is_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader inside a read transaction keeps its snapshot through the rebuild, which does
    not wait for it to end; the reader sees the new catalog after, and the WAL the copy
    grew is cut back once a later commit has checkpointed it."""
    monkeypatch.setattr(catalog_file, "_CHECKPOINT_PAGES", 1)  # every commit checkpoints
    monkeypatch.setattr(catalog_file, "_WAL_LIMIT_BYTES", 0)
    stamps = _archive(tmp_path / "a", 40)
    catalog = tmp_path / "a" / "catalog.sqlite3"
    wal = Path(f"{catalog}-wal")
    reader = sqlite3.connect(catalog, isolation_level=None)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM damaged").fetchone()[0]
    with TrainingArchiveManager(tmp_path / "a") as manager:
        shutil.rmtree(tmp_path / "a" / stamps[0])  # the rebuild will not find it
        began = time.monotonic()
        manager.reindex()
        assert time.monotonic() - began < 10  # not the 30 s a statement waits for a lock
        assert reader.execute("SELECT count(*) FROM damaged").fetchone()[0] == before
        reader.execute("COMMIT")
        runs = [row[0] for row in reader.execute("SELECT timestamp FROM runs ORDER BY 1")]
        assert runs == stamps[1:2] + stamps[3:]
        grown = wal.stat().st_size
        manager.archive_training_run(summary_bytes("later"))  # its commit checkpoints
        manager.archive_training_run(summary_bytes("later still"))  # a WAL begun anew
        assert wal.stat().st_size < grown / 2
    reader.close()


def test_a_cancelled_rebuild_leaves_the_catalog_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled after its first chunk, the rebuild raises and nothing changes."""
    _archive(tmp_path / "a", 6)
    monkeypatch.setattr(rebuild, "_CHUNK", 2)
    asked = []

    def cancelled() -> bool:
        asked.append(True)
        return len(asked) > 1

    with TrainingArchiveManager(tmp_path / "a") as manager:
        manager.reindex()
        before = _contents(manager)
        asked.clear()
        with pytest.raises(ReindexCancelledError):
            manager.reindex(cancelled=cancelled)
        assert _contents(manager) == before
    assert not list((tmp_path / "a").glob(".catalog-rebuild*"))


def test_a_large_reindex_leaves_index_json_to_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above WHOLE_INDEX_UP_TO runs index.json is not rewritten (it lacks the newest run),
    and the catalog still knows what it holds, so the next compaction brings it up to date."""
    _archive(tmp_path / "a", 3)
    index = tmp_path / "a" / "index.json"
    monkeypatch.setattr(maintenance, "WHOLE_INDEX_UP_TO", 0)
    with TrainingArchiveManager(tmp_path / "a", auto_compact=False) as manager:
        manager.compact()
        newest = manager.archive_training_run(summary_bytes("new")).timestamp
        written = index.read_bytes()
        state = index_state(manager.writer.catalog)  # type: ignore[attr-defined]
        manager.reindex()
        assert index.read_bytes() == written
        assert newest.encode() not in written
        assert index_state(manager.writer.catalog) == state  # type: ignore[attr-defined]
        manager.compact()
        runs = [r["timestamp"] for r in manager.reader.list_runs()]
    assert [run["timestamp"] for run in json.loads(index.read_text())["runs"]] == runs
    assert runs[-1] == newest


@pytest.mark.timeout(120)
def test_an_unguarded_script_that_reindexes_runs_once(tmp_path: Path) -> None:
    """A library user's script without ``if __name__ == "__main__"`` reindexes through the
    second process once: that process never runs the caller's script again."""
    _archive(tmp_path / "a", 3)
    marker = tmp_path / "ran"
    script = tmp_path / "reindex_it.py"
    script.write_text(
        "from gating import TrainingArchiveManager\n"
        "from gating.archive import parsing\n"
        "parsing._PROCESS_FROM = 1\n"
        f"with open({str(marker)!r}, 'a') as f:\n    f.write('ran\\n')\n"
        f"print(TrainingArchiveManager({str(tmp_path / 'a')!r}, lock_timeout=5).reindex())\n",
        "utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=100, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "2"), done.stderr  # one damaged
    assert marker.read_text() == "ran\n"


def _deep(folder: Path) -> None:
    (folder / "model_assessments.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)


def _fifo(folder: Path) -> None:
    (folder / "model_assessments.json").unlink()
    os.mkfifo(folder / "model_assessments.json")


def _to_dev_zero(folder: Path) -> None:
    (folder / "model_assessments.json").unlink()
    (folder / "model_assessments.json").symlink_to("/dev/zero")
    (folder / "summary.json").unlink()
    os.mkfifo(folder / "summary.json")  # read for the damaged folder's sha256


def _directory(folder: Path) -> None:
    (folder / "model_assessments.json").unlink()
    (folder / "model_assessments.json").mkdir()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("processes", [False, True])
@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        (_deep, "maximum recursion depth"),
        (_fifo, "not a regular file"),
        (_directory, "not a regular file"),
        (_to_dev_zero, "a symlink, never followed"),
    ],
)
def test_a_hostile_record_is_a_damaged_folder_and_the_rest_is_rebuilt(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hostile: Callable[[Path], None],
    reason: str,
    processes: bool,
) -> None:
    """A record nested 100,000 deep, a FIFO, a folder, a symlink to /dev/zero (its summary a FIFO):
    reindex neither hangs nor fails; that folder is reported, every other run rebuilt."""
    root = tmp_path / "a"
    with TrainingArchiveManager(root) as manager:
        runs = manager.archive_training_runs([summary_bytes(f"r{i}") for i in range(3)])
    hostile(root / runs[1].timestamp)
    if processes:
        monkeypatch.setattr(parsing, "_PROCESS_FROM", 1)
    with TrainingArchiveManager(root) as manager:
        assert manager.reindex() == 2
        assert [r["timestamp"] for r in manager.reader.list_runs()] == [
            runs[0].timestamp,
            runs[2].timestamp,
        ]
        ((stamp, why),) = manager.reader.damaged_runs()
    assert stamp == runs[1].timestamp
    assert reason in why


@pytest.mark.parametrize("page_size", [1024, 8192, 65536])
def test_a_catalog_of_another_page_size_is_rebuilt_in_place(tmp_path: Path, page_size: int) -> None:
    """A catalog file made with another page size (by hand, by another tool) is rebuilt like
    any other: SQLite's backup cannot copy into a WAL file of another page size, so the
    fresh file takes the live one's."""
    stamps = _archive(tmp_path / "a", 3)
    catalog = tmp_path / "a" / "catalog.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    made = sqlite3.connect(catalog)
    made.execute(f"PRAGMA page_size={page_size}")
    made.execute("PRAGMA journal_mode=WAL")
    made.execute("CREATE TABLE unrelated (x)")
    made.close()
    manager = TrainingArchiveManager(tmp_path / "a", lock_timeout=5)
    assert manager.reindex() == 2  # the run whose record is cut short is damaged
    listed = [run["timestamp"] for run in manager.list_runs()]
    assert listed == [stamps[0], stamps[1]]
    added = manager.archive_training_run(summary_bytes("later"))
    assert manager.list_runs()[-1]["timestamp"] == added.timestamp
    manager.close()


def test_a_full_disk_under_the_fresh_file_is_one_line_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fresh file running out of room (SQLite's full-disk error, by a page limit) makes
    reindex raise one ArchiveError line; the catalog and the folders are as they were."""
    _archive(tmp_path / "a", 40)
    with TrainingArchiveManager(tmp_path / "a") as manager:
        manager.reindex()  # the catalog knows the folders _archive added by hand
        before = _contents(manager)
    monkeypatch.setattr(rebuild, "_PRAGMAS", (*rebuild._PRAGMAS, "max_page_count=24"))
    with TrainingArchiveManager(tmp_path / "a") as manager:
        with pytest.raises(ArchiveError, match="database or disk is full") as raised:
            manager.reindex()
        assert "\n" not in str(raised.value)
        assert _contents(manager) == before
    assert not list((tmp_path / "a").glob(".catalog-rebuild*"))
