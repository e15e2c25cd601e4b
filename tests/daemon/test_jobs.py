"""Tests for daemon.jobs: job options on the scheduler and what each job logs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from daemon.config import ScheduleSettings
from daemon.jobs import Jobs, build_scheduler
from gating import TrainingArchiveManager
from tests.conftest import summary_bytes


class FakeLog:
    """Collects (level, event, fields) triples."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.events.append((level, event, fields))


def make_jobs(tmp_path: Path) -> tuple[Jobs, FakeLog, list[int]]:
    """Jobs on a one-run archive with a fake log and a rescan counter."""
    manager = TrainingArchiveManager(tmp_path / "archive")
    manager.archive_training_run(summary_bytes())
    log = FakeLog()
    rescans: list[int] = []
    return Jobs(manager, lambda: rescans.append(1), threading.Event(), log), log, rescans


def test_scheduler_jobs_are_coalesced_single_instance_with_grace(tmp_path: Path) -> None:
    """Each job is coalesced, runs one instance at a time and has an explicit grace time."""
    jobs, log, _ = make_jobs(tmp_path)
    settings = ScheduleSettings(rescan_seconds=30, compact_seconds=300, reindex_cron="5 4 * * *")
    scheduler = build_scheduler(settings, jobs, log)
    found = {job.id: job for job in scheduler.get_jobs()}
    assert set(found) == {"rescan", "compact", "reindex"}
    for job in found.values():
        assert job.coalesce is True
        assert job.max_instances == 1
    assert found["rescan"].misfire_grace_time == 30
    assert found["compact"].misfire_grace_time == 300
    assert "hour='4'" in str(found["reindex"].trigger)


def test_jobs_log_what_they_did(tmp_path: Path) -> None:
    """compact and reindex log their event with counts; rescan only asks the worker."""
    jobs, log, rescans = make_jobs(tmp_path)
    jobs.rescan()
    jobs.compact()
    jobs.reindex()
    assert rescans == [1]
    assert [(level, event, fields["runs"]) for level, event, fields in log.events] == [
        ("info", "compacted", 1),
        ("info", "reindexed", 1),
    ]


def test_reindex_cancelled_by_stop_leaves_index(tmp_path: Path) -> None:
    """A stop request cancels reindex, which logs it and writes nothing."""
    jobs, log, _ = make_jobs(tmp_path)
    jobs.compact()
    before = jobs.manager.index_path.read_bytes()
    jobs.stopping.set()
    jobs.reindex()
    assert log.events[-1][1] == "reindex_cancelled"
    assert jobs.manager.index_path.read_bytes() == before
