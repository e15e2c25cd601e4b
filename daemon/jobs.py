"""The scheduled jobs (rescan, compaction, reindex) and the APScheduler that runs them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.config import ScheduleSettings
from gating import ArchiveError, ReindexCancelledError, TrainingArchiveManager

__all__ = ["Jobs", "build_scheduler"]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@dataclass
class Jobs:
    """What each scheduled job does; writers go through the archive's writer lock."""

    manager: TrainingArchiveManager
    request_rescan: Callable[[], None]
    stopping: threading.Event
    log: Any

    def rescan(self) -> None:
        """Ask the worker to rescan the watched folders (it never reads files here)."""
        self.request_rescan()

    def compact(self) -> None:
        """Write index.json from the catalog."""
        started = time.perf_counter()
        try:
            runs = self.manager.compact()
        except ArchiveError as error:
            self.log.error("compact_failed", error=str(error))
            return
        self.log.info("compacted", runs=runs, duration_ms=_ms(started))

    def reindex(self) -> None:
        """Rebuild the index from the run folders; a stop request cancels it cleanly."""
        started = time.perf_counter()
        try:
            runs = self.manager.reindex(cancelled=self.stopping.is_set)
        except ReindexCancelledError:
            self.log.info("reindex_cancelled", duration_ms=_ms(started))
            return
        except ArchiveError as error:
            self.log.error("reindex_failed", error=str(error))
            return
        self.log.info("reindexed", runs=runs, duration_ms=_ms(started))


def build_scheduler(settings: ScheduleSettings, jobs: Jobs, log: Any) -> BackgroundScheduler:
    """An APScheduler with the three jobs: coalesced, one instance each, explicit grace."""
    scheduler = BackgroundScheduler(
        timezone="UTC", executors={"default": {"type": "threadpool", "max_workers": 2}}
    )
    once = {"coalesce": True, "max_instances": 1}
    scheduler.add_job(
        jobs.rescan,
        IntervalTrigger(seconds=settings.rescan_seconds),
        id="rescan",
        **once,
        misfire_grace_time=max(1, int(settings.rescan_seconds)),
    )
    scheduler.add_job(
        jobs.compact,
        IntervalTrigger(seconds=settings.compact_seconds),
        id="compact",
        **once,
        misfire_grace_time=max(1, int(settings.compact_seconds)),
    )
    scheduler.add_job(
        jobs.reindex,
        CronTrigger.from_crontab(settings.reindex_cron, timezone="UTC"),
        id="reindex",
        **once,
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
