"""What compaction and reindex do (in the worker), and the cron that asks for a reindex."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon.config import ScheduleSettings
from daemon.logs import elapsed_ms
from gating import ArchiveError, ReindexCancelledError, TrainingArchiveManager
from gating.archive.layout import DECISIONS_DIR

__all__ = ["Jobs", "build_scheduler"]


@dataclass
class Jobs:
    """The archive jobs the worker runs between batches (it owns every write)."""

    manager: TrainingArchiveManager
    stopping: threading.Event
    log: Any
    _decisions_seen: int | None = None  # the decisions folder's mtime at the last look

    def compact(self) -> None:
        """Write index.json from the catalog (a shared archive has none: nothing to do)."""
        if not self.manager.writer.derived:
            return
        started = time.perf_counter()
        try:
            runs = self.manager.compact()
        except ArchiveError as error:
            self.log.error("compact_failed", error=str(error))
            return
        self.log.info("compacted", runs=runs, duration_ms=elapsed_ms(started))

    def decisions(self) -> None:
        """Index decisions written but not indexed (their `decide` crashed), when the
        decisions folder changed since the last look (a stat, not a listing)."""
        try:
            changed = os.stat(self.manager.archive_dir / DECISIONS_DIR).st_mtime_ns
        except OSError:
            return
        if changed == self._decisions_seen:
            return
        try:
            found = self.manager.writer.index_decisions()
        except ArchiveError as error:
            self.log.error("decisions_index_failed", error=str(error))
            return
        self._decisions_seen = changed
        if found:
            self.log.warning("decisions_indexed", decisions=found, cause="written, not indexed")

    def reindex(self) -> None:
        """Rebuild the index from the run folders; a stop request cancels it cleanly (a
        shared archive is never rebuilt: nothing to do)."""
        if not self.manager.writer.derived:
            return
        started = time.perf_counter()
        try:
            runs = self.manager.reindex(cancelled=self.stopping.is_set)
        except ReindexCancelledError:
            self.log.info("reindex_cancelled", duration_ms=elapsed_ms(started))
            return
        except ArchiveError as error:
            self.log.error("reindex_failed", error=str(error))
            return
        self.log.info("reindexed", runs=runs, duration_ms=elapsed_ms(started))


def build_scheduler(
    settings: ScheduleSettings, request: Callable[[str], object], log: Any
) -> BackgroundScheduler:
    """An APScheduler for the wall-clock job alone: the cron asks the worker to reindex.

    Interval jobs run off the monotonic clock (daemon.ticker); the scheduler only
    enqueues, so no thread of it ever takes the archive lock.
    """
    scheduler = BackgroundScheduler(
        timezone="UTC", executors={"default": {"type": "threadpool", "max_workers": 1}}
    )
    scheduler.add_job(
        request,
        CronTrigger.from_crontab(settings.reindex_cron, timezone="UTC"),
        args=("reindex",),
        id="reindex",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )

    def listen(event: Any) -> None:
        if event.code == EVENT_JOB_ERROR:
            log.error("job_failed", job=event.job_id, error=repr(event.exception))
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job_missed", job=event.job_id, scheduled=str(event.scheduled_run_time))
        else:
            log.warning("job_still_running", job=event.job_id)

    scheduler.add_listener(listen, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return scheduler
