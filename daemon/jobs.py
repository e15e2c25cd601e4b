"""What compaction and reindex do (in the worker), and the cron that asks for a reindex."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon.config import ScheduleSettings
from daemon.logs import elapsed_ms
from gating import ArchiveError, ReindexCancelledError, TrainingArchiveManager
from gating.archive.layout import DECISIONS_DIR

if TYPE_CHECKING:
    from gating.archive.reindexing import PendingReindex
    from gating.progress import Progress

__all__ = ["Jobs", "build_scheduler"]


@dataclass
class Jobs:
    """The archive jobs the worker runs between batches (it owns every write)."""

    manager: TrainingArchiveManager
    stopping: threading.Event
    log: Any
    _decisions_seen: int | None = None  # the decisions folder's mtime at the last look
    _reindex: _Reading | None = None  # a reindex reading the run folders beside the worker
    reading_progress: Progress | None = None  # how far that reading is (never the heartbeat)

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
        """Begin a rebuild of the index from the run folders (a shared archive is never
        rebuilt: nothing to do). The folders are read on a thread of their own without
        the writer lock, so the worker goes on archiving; ``finish_reindex`` swaps the
        result in on the worker's next turn after. A stop request cancels it cleanly."""
        if not self.manager.writer.derived or self._reindex is not None:
            return  # a request while one reads coalesces with it
        started = time.perf_counter()
        try:
            begun = self.manager.writer.begin_reindex(
                self.reading_progress, cancelled=self.stopping.is_set
            )
        except (ReindexCancelledError, ArchiveError) as error:
            self._reindex_ended(started, error)
            return
        if isinstance(begun, int):  # taking the lock rebuilt the catalog just now
            self.log.info("reindexed", runs=begun, duration_ms=elapsed_ms(started))
            return
        reading = _Reading(begun, started)
        try:
            reading.thread.start()
        except BaseException:
            begun.close()
            raise
        self._reindex = reading

    @property
    def reindexing(self) -> bool:
        """Whether a reindex is reading the run folders (or waits to be swapped in)."""
        return self._reindex is not None

    def finish_reindex(self) -> None:
        """Swap in a reindex whose run folders are all read (on the worker, which may take
        the writer lock); a reindex still reading is left to read."""
        reading = self._reindex
        if reading is None or reading.thread.is_alive():
            return
        self._reindex = None
        with reading.pending:
            try:
                if reading.failure is not None:
                    raise reading.failure
                runs = reading.pending.finish()
            except (ReindexCancelledError, ArchiveError) as error:
                self._reindex_ended(reading.started, error)
                return
        self.log.info("reindexed", runs=runs, duration_ms=elapsed_ms(reading.started))

    def abandon_reindex(self, wait: float) -> None:
        """At stop: give a reindex still reading ``wait`` seconds to see the stop and drop
        its file; one still busy then drops it when it ends (or the next start's recovery
        does, if the process ends first)."""
        reading, self._reindex = self._reindex, None
        if reading is None:
            return
        reading.thread.join(wait)
        if not reading.abandon():
            self.log.info("reindex_cancelled", duration_ms=elapsed_ms(reading.started))
            return
        reading.pending.close()
        failure = reading.failure
        if isinstance(failure, ArchiveError):  # it failed before it saw the stop
            self._reindex_ended(reading.started, failure)
        else:
            self.log.info("reindex_cancelled", duration_ms=elapsed_ms(reading.started))

    def _reindex_ended(self, started: float, error: Exception) -> None:
        if isinstance(error, ReindexCancelledError):
            self.log.info("reindex_cancelled", duration_ms=elapsed_ms(started))
        else:
            self.log.error("reindex_failed", error=str(error))


class _Reading:
    """A reindex reading the run folders on a thread of its own (and how that ended)."""

    def __init__(self, pending: PendingReindex, started: float) -> None:
        self.pending, self.started = pending, started
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name="gatewatch-reindex", daemon=True)
        self._guard = threading.Lock()
        self._ended = self._abandoned = False

    def _read(self) -> None:
        try:
            self.pending.fill()
        except BaseException as error:  # handed to the worker, which raises it
            self.failure = error
        finally:
            with self._guard:
                self._ended = True
                if self._abandoned:  # the worker stopped waiting: the file is ours to drop
                    self.pending.close()

    def abandon(self) -> bool:
        """The worker stops waiting: True if the reading has ended (the caller drops the
        file), else False (the reading drops it when it ends)."""
        with self._guard:
            self._abandoned = not self._ended
            return self._ended


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
