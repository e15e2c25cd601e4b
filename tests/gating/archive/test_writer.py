"""Tests for gating.archive.writer: the rebuilds its ``rebuilding`` hook follows, and a
reindex whose lock finds the catalog gone."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveBusyError, ReindexCancelledError, TrainingArchiveManager
from gating.archive import rebuild
from gating.archive.layout import Layout
from tests.conftest import summary_bytes

Calls = list[tuple[int, int]]


def _archive(tmp_path: Path, calls: Calls) -> TrainingArchiveManager:
    """A three-run archive whose rebuilds are followed into ``calls``."""
    archive = TrainingArchiveManager(
        tmp_path / "a", durable=False, rebuilding=lambda done, total: calls.append((done, total))
    )
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    return archive


def _query_after_the_catalog_was_deleted(archive: TrainingArchiveManager) -> int:
    (archive.archive_dir / "catalog.sqlite3").unlink()
    return len(archive.list_runs())


def _commit_after_the_catalog_was_deleted(archive: TrainingArchiveManager) -> int:
    (archive.archive_dir / "catalog.sqlite3").unlink()
    archive.archive_training_run(summary_bytes("r3"))
    return len(archive.list_runs()) - 1  # the rebuild ran before the new run was written


@pytest.mark.parametrize(
    "rebuild",
    [
        _query_after_the_catalog_was_deleted,
        _commit_after_the_catalog_was_deleted,
        TrainingArchiveManager.reindex,
    ],
)
def test_a_rebuild_no_caller_follows_is_followed_by_the_rebuilding_hook(
    tmp_path: Path, rebuild: Callable[[TrainingArchiveManager], int]
) -> None:
    """A query or a commit finding the catalog deleted, and a reindex without progress,
    each report every run folder read to the hook the archive was opened with."""
    calls: Calls = []
    archive = _archive(tmp_path, calls)
    assert calls == []
    runs = rebuild(archive)
    assert runs == 3
    assert calls[-1] == (3, 3)


def test_progress_given_by_the_caller_replaces_the_hook(tmp_path: Path) -> None:
    """reindex(progress=...) is followed by that callable alone."""
    calls: Calls = []
    archive = _archive(tmp_path, calls)
    mine: Calls = []
    archive.reindex(progress=lambda done, total: mine.append((done, total)))
    assert (mine, calls) == ([(3, 3)], [])


def _deleted_catalog(tmp_path: Path) -> Path:
    """A three-run archive whose catalog was deleted while nothing had it open."""
    with TrainingArchiveManager(tmp_path / "a", durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    (tmp_path / "a" / "catalog.sqlite3").unlink()
    return tmp_path / "a"


def test_a_reindex_whose_lock_finds_the_catalog_deleted_reads_the_run_folders_once(
    tmp_path: Path,
) -> None:
    """Taking the lock rebuilds the missing catalog, followed by the reindex's progress;
    the reindex does not rebuild it a second time (at a million runs, three minutes)."""
    calls: Calls = []
    archive = TrainingArchiveManager(
        _deleted_catalog(tmp_path), rebuilding=lambda done, total: calls.append((done, total))
    )
    mine: Calls = []
    assert archive.reindex(progress=lambda done, total: mine.append((done, total))) == 3
    assert (mine, calls) == ([(3, 3)], [])
    assert len(archive.list_runs()) == 3


def test_a_reindex_cancelled_while_its_lock_rebuilds_leaves_the_next_write_to_recover(
    tmp_path: Path,
) -> None:
    """Cancelled during the rebuild its lock started, the reindex raises; the next write
    recovers again, and every run is found."""
    archive = TrainingArchiveManager(_deleted_catalog(tmp_path))
    with pytest.raises(ReindexCancelledError):
        archive.reindex(cancelled=lambda: True)
    archive.archive_training_run(summary_bytes("r3"))
    assert [run["run_id"] for run in archive.list_runs()] == ["r0", "r1", "r2", "r3"]


def test_a_reindex_cancelled_while_rebuilding_a_catalog_deleted_under_it_is_not_trusted(
    tmp_path: Path,
) -> None:
    """The catalog deleted under an open archive and the reindex cancelled while its lock
    rebuilds it: the next query, from this archive object, rebuilds it and finds every run
    (it was answered from the empty file)."""
    archive = TrainingArchiveManager(tmp_path / "a", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(3))
    assert len(archive.list_runs()) == 3
    (tmp_path / "a" / "catalog.sqlite3").unlink()
    with pytest.raises(ReindexCancelledError):
        archive.reindex(cancelled=lambda: True)
    assert [run["run_id"] for run in archive.list_runs()] == ["r0", "r1", "r2"]


def _reindex_with(root: Path, meanwhile: Callable[[], object]) -> TrainingArchiveManager:
    """Reindex the archive at ``root``, calling ``meanwhile`` once while it reads the run
    folders (from its progress callback); the reindexed archive."""
    archive = TrainingArchiveManager(root, durable=False)
    called: list[object] = []

    def progress(done: int, total: int) -> None:
        if not called:
            called.append(meanwhile())

    archive.reindex(progress=progress)
    assert called
    return archive


def test_other_writers_archive_and_decide_while_a_reindex_reads_the_run_folders(
    tmp_path: Path,
) -> None:
    """A run archived and a decision made by another writer during the reindex wait for no
    lock, and both are in the rebuilt catalog."""
    root = _deleted_catalog(tmp_path)
    TrainingArchiveManager(root).recover()  # a catalog again: the reindex reads the folders
    other = TrainingArchiveManager(root, durable=False, lock_timeout=0.5)
    first = other.list_runs()[0]["timestamp"]

    def write() -> None:
        other.archive_training_run(summary_bytes("r3"))
        other.decide(first, "SYM1", "approve", by="ann", reason="ok")

    archive = _reindex_with(root, write)
    assert [run["run_id"] for run in archive.list_runs()] == ["r0", "r1", "r2", "r3"]
    assert [(d.symbol, d.verdict) for d in archive.decisions()] == [("SYM1", "APPROVED")]
    assert archive.reader.damaged_runs() == []


@pytest.mark.parametrize("change", ["removed", "an older copy added"])
def test_run_folders_changed_under_a_reindex_are_read_again_under_the_lock(
    tmp_path: Path, change: str
) -> None:
    """A run folder removed while the reindex reads them, or one added before the newest:
    the catalog matches the folders after all the same."""
    root = _deleted_catalog(tmp_path)
    stamps = [run["timestamp"] for run in TrainingArchiveManager(root).list_runs()]

    def edit() -> None:
        if change == "removed":
            shutil.rmtree(root / stamps[1])
        else:
            shutil.copytree(root / stamps[1], root / "20000101T000000000000Z")

    archive = _reindex_with(root, edit)
    found = (archive.list_runs(), archive.reader.damaged_runs())
    folders = 2 if change == "removed" else 4
    assert len(found[0]) + len(found[1]) == folders  # each folder once: listed or damaged
    archive.reindex()  # nothing changes under this one
    assert (archive.list_runs(), archive.reader.damaged_runs()) == found
    if change == "removed":
        assert [run["timestamp"] for run in found[0]] == [stamps[0], stamps[2]]


def test_runs_archived_while_a_reindex_lists_the_folders_are_caught_up_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs archived while the reindex lists the folders, the listing seeing only the
    later (a listing in hash order can): both are read under the lock, and the folders are
    not all read again (the reindex reads those up to the catalog's newest run alone)."""
    root = _deleted_catalog(tmp_path)
    TrainingArchiveManager(root).recover()
    other = TrainingArchiveManager(root, durable=False, lock_timeout=0.5)
    real_names = Layout.run_names
    listings: list[list[str]] = []

    def listing(self: Layout) -> Iterator[str]:
        names = list(real_names(self))
        if not listings:
            listings.append(names)
            added = [other.archive_training_run(summary_bytes(f"new{n}")) for n in range(2)]
            names.append(added[1].timestamp)  # the later run listed, the earlier not
        return iter(names)

    monkeypatch.setattr(Layout, "run_names", listing)
    again: list[object] = []
    whole = rebuild.rebuild_catalog

    def read_all_again(*args: Any) -> tuple[int, list[tuple[str, str]]]:
        again.append(args)
        return whole(*args)

    monkeypatch.setattr(rebuild, "rebuild_catalog", read_all_again)
    archive = TrainingArchiveManager(root, durable=False)
    assert archive.reindex() == 5
    assert [run["run_id"] for run in archive.list_runs()] == ["r0", "r1", "r2", "new0", "new1"]
    assert again == []


def test_the_lock_busy_when_a_reindex_comes_back_for_it_is_archive_busy(tmp_path: Path) -> None:
    """Another writer holding the lock when the reindex has read the folders: it waits
    ``lock_timeout``, then raises ArchiveBusyError with one message, the catalog as it was."""
    root = _deleted_catalog(tmp_path)
    runs = TrainingArchiveManager(root).list_runs()
    archive = TrainingArchiveManager(root, durable=False, lock_timeout=0.3)
    with (root / ".lock").open("a") as held:

        def hold(done: int, total: int) -> None:
            fcntl.flock(held, fcntl.LOCK_EX)

        with pytest.raises(ArchiveBusyError) as raised:
            archive.reindex(progress=hold)
    assert str(raised.value).count("held the lock") == 1
    assert "cannot reindex" not in str(raised.value)
    assert archive.list_runs() == runs
