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


def make_jobs(tmp_path: Path) -> tuple[Jobs, FakeLog]:
    """Jobs on a one-run archive with a fake log."""
    manager = TrainingArchiveManager(tmp_path / "archive")
    manager.archive_training_run(summary_bytes())
    log = FakeLog()
    return Jobs(manager, threading.Event(), log), log


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
    assert log.events[-1][1] == "reindex_cancelled"
    assert jobs.manager.index_path.read_bytes() == before
