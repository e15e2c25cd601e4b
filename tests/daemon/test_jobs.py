"""Tests for daemon.jobs: job options on the scheduler and what each job logs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from daemon.config import ScheduleSettings
from daemon.jobs import Jobs, build_scheduler
from gating import ArchiveError, TrainingArchiveManager
from gating.archive.reindexing import PendingReindex
from tests.conftest import summary_bytes
from tests.process import wait_until


class FakeLog:
    """Collects (level, event, fields) triples."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.events.append((level, event, fields))


def make_jobs(tmp_path: Path, lock_timeout: float = 30.0) -> tuple[Jobs, FakeLog]:
    """Jobs on a one-run archive with a fake log."""
    manager = TrainingArchiveManager(tmp_path / "archive", lock_timeout=lock_timeout)
    manager.archive_training_run(summary_bytes())
    log = FakeLog()
    return Jobs(manager, threading.Event(), log), log


def swapped_in(jobs: Jobs) -> None:
    """Wait for a reindex's reading to end, then take the worker's turn that swaps it in."""
    wait_until(lambda: jobs._reindex is None or not jobs._reindex.thread.is_alive(), 30, "read")
    jobs.finish_reindex()
    assert not jobs.reindexing


def test_the_scheduler_holds_only_the_cron_reindex_and_only_enqueues(tmp_path: Path) -> None:
    """APScheduler keeps the wall-clock reindex alone; its job asks the worker, nothing more."""
    _, log = make_jobs(tmp_path)
    requested: list[str] = []
    settings = ScheduleSettings(rescan_seconds=30, compact_seconds=300, reindex_cron="5 4 * * *")
    scheduler = build_scheduler(settings, requested.append, log)
    (job,) = scheduler.get_jobs()
    assert (job.id, job.coalesce, job.max_instances) == ("reindex", True, 1)
    assert "hour='4'" in str(job.trigger)
    job.func(*job.args)
    assert requested == ["reindex"]


def test_jobs_log_what_they_did(tmp_path: Path) -> None:
    """compact and reindex log their event with counts."""
    jobs, log = make_jobs(tmp_path)
    jobs.compact()
    jobs.reindex()
    swapped_in(jobs)
    assert [(level, event, fields["runs"]) for level, event, fields in log.events] == [
        ("info", "compacted", 1),
        ("info", "reindexed", 1),
    ]


def test_reindex_cancelled_by_stop_leaves_index(tmp_path: Path) -> None:
    """A stop request cancels reindex, which logs it and writes nothing."""
    jobs, log = make_jobs(tmp_path)
    jobs.compact()
    before = jobs.manager.index_path.read_bytes()
    jobs.stopping.set()
    jobs.reindex()
    swapped_in(jobs)
    assert log.events[-1][1] == "reindex_cancelled"
    assert jobs.manager.index_path.read_bytes() == before
    assert not list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))


@pytest.fixture
def held_reading(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold every reindex's reading of the run folders until the event is set (at most
    30 s), so that a test can act while it reads."""
    release = threading.Event()
    fill = PendingReindex.fill

    def held(pending: PendingReindex) -> None:
        release.wait(30)
        fill(pending)

    monkeypatch.setattr(PendingReindex, "fill", held)
    return release


def test_a_reindex_reads_beside_the_writer_and_takes_in_what_it_archived(
    tmp_path: Path, held_reading: threading.Event
) -> None:
    """While a reindex reads the run folders, the worker's thread archives a run without
    waiting for it (the lock is free); a second request coalesces; the turn after the
    reading swaps in a catalog holding both runs."""
    jobs, log = make_jobs(tmp_path, lock_timeout=0.5)  # the reading must not hold the lock
    jobs.reindex()
    assert jobs.reindexing
    jobs.manager.archive_training_run(summary_bytes("archived-meanwhile"))
    jobs.reindex()  # coalesces with the one reading
    jobs.finish_reindex()  # still reading: nothing to swap in yet
    assert jobs.reindexing
    held_reading.set()
    swapped_in(jobs)
    assert [(event, fields.get("runs")) for _, event, fields in log.events] == [("reindexed", 2)]
    assert [run["run_id"] for run in jobs.manager.list_runs()][-1] == "archived-meanwhile"
    assert not list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))


def test_a_stop_abandons_a_reindex_reading_and_drops_its_file(
    tmp_path: Path, held_reading: threading.Event
) -> None:
    """A stop while a reindex reads: it is given time to see the stop, logged as cancelled,
    its fresh file removed, and the catalog left as it was."""
    jobs, log = make_jobs(tmp_path)
    jobs.reindex()
    assert list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))
    jobs.stopping.set()
    held_reading.set()
    jobs.abandon_reindex(10)
    assert not jobs.reindexing
    assert [event for _, event, _ in log.events] == ["reindex_cancelled"]
    assert not list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))
    assert len(jobs.manager.list_runs()) == 1


def test_a_reading_that_outlives_the_stop_wait_drops_its_own_file_when_it_ends(
    tmp_path: Path, held_reading: threading.Event
) -> None:
    """The stop gives up waiting while the reading is still busy: that is logged as
    cancelled at once, and the reading removes its fresh file itself when it ends."""
    jobs, log = make_jobs(tmp_path)
    jobs.reindex()
    jobs.stopping.set()
    jobs.abandon_reindex(0.05)  # the reading is held: still busy
    assert [event for _, event, _ in log.events] == ["reindex_cancelled"]
    assert list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))
    held_reading.set()
    wait_until(
        lambda: not list(jobs.manager.archive_dir.glob(".catalog-rebuild*")), 30, "file dropped"
    )
    assert len(jobs.manager.list_runs()) == 1


def test_a_reading_that_failed_before_the_stop_is_logged_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading that ended in an ArchiveError (a full disk) before the worker's turn came,
    then a stop: reindex_failed with its reason, not reindex_cancelled."""

    def full(_pending: PendingReindex) -> None:
        raise ArchiveError("reindex: disk full")

    monkeypatch.setattr(PendingReindex, "fill", full)
    jobs, log = make_jobs(tmp_path)
    jobs.reindex()
    wait_until(lambda: jobs._reindex is not None and not jobs._reindex.thread.is_alive(), 30, "end")
    jobs.stopping.set()
    jobs.abandon_reindex(1.0)
    assert [(level, event) for level, event, _ in log.events] == [("error", "reindex_failed")]
    assert "disk full" in log.events[0][2]["error"]
    assert not list(jobs.manager.archive_dir.glob(".catalog-rebuild*"))
