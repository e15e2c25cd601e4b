"""`gatewatch run`: the watcher, the one writing worker, the job clocks, signals, systemd."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from daemon import systemd
from daemon.archives import database_of, open_archive, sender_for, shared, write_problem
from daemon.config import Config
from daemon.config_paths import missing_paths
from daemon.errors import AlreadyRunningError, ConfigError
from daemon.heartbeat import Heartbeat
from daemon.inotify import InotifyWatches
from daemon.intake import ingest_many
from daemon.jobs import build_scheduler
from daemon.logs import elapsed_ms, get_logger
from daemon.notify.settings import outbox_for
from daemon.reloading import ConfigReader
from daemon.scan import FileFilter
from daemon.signals import SignalEvents
from daemon.status_reporter import StatusReporter
from daemon.text import visible
from daemon.ticker import Clock, SystemClock, Ticker
from daemon.watched_roots import POLL_SECONDS, WatchedRoots
from daemon.watcher import Watcher, WatchEvent
from daemon.worker import Ingest, Reload, Scan, Worker
from gating import DISK, Disk, FileLock, ReindexCancelledError
from gating.archive.durable import read_regular, replace_small

__all__ = ["DAEMON_LOCK_NAME", "Service"]

DAEMON_LOCK_NAME = ".daemon.lock"
_PID_BYTES = 64  # what .daemon.lock may hold: a pid and a newline
STOP_SECONDS = 10.0
DECISIONS_SECONDS = 2.0  # how often the decisions folder is looked at for unindexed files
APPEAR_SECONDS = 1.0  # how often a missing watched folder is looked for
# While a rebuild at start goes on, systemd is asked this often for this much more time
# than its start timeout (90 s by default; a million runs take about 3 minutes).
EXTEND_EVERY_SECONDS = 5.0
EXTEND_BY_USEC = 60_000_000
# A worker whose heartbeat is older is stalled: the status says so and the watchdog is no
# longer pinged (systemd restarts the service WatchdogSec later).
STALLED_SECONDS = 120.0


class Service:
    """The long-running service; ``run()`` returns the process exit status.

    ``clock``, ``inotify``, ``ingest``, ``disk``, ``watcher_sink`` and ``retry_seconds``
    are the seams tests inject (a clock that steps, a watch limit, a failing read, a disk
    that crashes or fails, a sink that takes the watcher's events instead of the worker,
    such as one that loses them, and a shorter wait for PostgreSQL); the defaults are the
    real ones.
    """

    def __init__(
        self,
        config: Config,
        config_arg: str | None = None,
        *,
        clock: Clock | None = None,
        inotify: Callable[[], InotifyWatches] = InotifyWatches,
        ingest: Ingest = ingest_many,
        disk: Disk = DISK,
        watcher_sink: Callable[[WatchEvent], None] | None = None,
        signals: SignalEvents | None = None,
        retry_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.config_arg = config_arg
        self.clock = clock or SystemClock()
        self.log = get_logger("gatewatch")
        watch = config.watch
        # Set by SIGTERM/SIGINT and SIGHUP (see run); the CLI gives its own, which takes
        # SIGHUP from before the archive is opened.
        self.signals = signals or SignalEvents()
        self.stop_requested = self.signals.stop
        self._extended: float | None = None  # when systemd was last asked for time
        self._status_error: str | None = None  # why status.json could not be written
        self._told: float | None = None  # when a rebuild in the worker was last reported
        self.reload_requested = self.signals.reload
        # Commits write events to the outbox; the sender delivers them (its own threads).
        outbox = None if shared(config) else outbox_for(config.archive.dir, config.notify, disk)
        # index.json is brought up to date by the scheduled compaction, not after commits;
        # a stop cuts a wait for another writer's lock short.
        self.manager = open_archive(
            config, disk=disk, outbox=outbox, cancelled=self.stop_requested,
            auto_compact=False, rebuilding=self._rebuilding_while_serving,
            retry_seconds=retry_seconds,
        )  # fmt: skip
        if shared(config) and (problem := write_problem(self.manager)) is not None:
            raise ConfigError(problem)  # a role that may only read: refused at start
        self.sender = sender_for(config, self.manager, outbox, self.log, disk)
        self.heartbeat = (
            Heartbeat(self.manager, self.log, self._database_back) if shared(config) else None
        )
        self.reporter = StatusReporter(config.archive.dir)
        # A reload that fails is said in the log and as `status`'s last error until one
        # succeeds (systemd's ExecReload cannot tell that a SIGHUP was refused).
        told = partial(self.reporter.tell, "config_reload_failed")
        self.reader = ConfigReader(config_arg, config, self.log, told)
        self.file_filter = FileFilter(watch.include, watch.exclude, (config.archive.dir,))
        # The archive folder itself is locked, not a file in it: deleting a file by hand
        # must not let a second service in (.daemon.lock only tells the holder's pid).
        self._instance_lock = FileLock(config.archive.dir, what="another service")
        self.worker = Worker(
            config,
            self.manager,
            self.file_filter,
            self.log,
            clock=self.clock,
            stopping=self.stop_requested,
            poll_roots=self._poll_roots,
            ingest=ingest,
            on_outcome=self.reporter.record,
            on_gone=self.reporter.forget,
            reindex_progress=self._reindex_reading,
        )
        emit = self.worker.tell if watcher_sink is None else watcher_sink
        self.watcher = Watcher(
            [],
            self.file_filter,
            emit,
            observer=watch.observer,
            recursive=watch.recursive,
            inotify=inotify,
        )
        self.roots = WatchedRoots(
            self.watcher, self.log, lambda path: self.worker.inbox.put(Scan((path,)))
        )

    def _poll_roots(self) -> list[Path]:
        return self.watcher.poll_roots()

    @property
    def unwatched_folders(self) -> int:
        """Folders inotify could not watch (the watch limit), polled instead."""
        return self.watcher.unwatched_folders

    def _lock(self) -> None:
        """Hold the single-instance lock: a flock on the archive folder itself (a file in
        it can be deleted by hand); .daemon.lock only tells the holder's pid."""
        lock, pid_file = self._instance_lock, self.config.archive.dir / DAEMON_LOCK_NAME
        lock.path.mkdir(parents=True, exist_ok=True)
        if not lock.try_acquire():
            try:  # never a FIFO (it would block) nor /dev/zero (it would fill memory)
                said = read_regular(pid_file, _PID_BYTES).decode(errors="replace")
                holder = said.strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise AlreadyRunningError(
                f"another gatewatch (pid {visible(holder[:20])}) is already running on {lock.path}"
            )
        temp = pid_file.with_name(f"{DAEMON_LOCK_NAME}.{os.getpid()}.tmp")
        try:  # by a rename: a symlink planted there is replaced, never written through
            replace_small(pid_file, f"{os.getpid()}\n".encode(), temp)
        except OSError as error:  # only a hint for people: the flock is the lock
            self.log.warning("pid_file_failed", file=str(pid_file), error=str(error))

    def run(self) -> int:
        """Take the signals, then serve until SIGTERM/SIGINT or a failure."""
        self.signals.install(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        return self.serve()

    def serve(self) -> int:
        """Start everything, serve until ``stop_requested`` or a failure, then stop cleanly."""
        self._lock()
        watch = self.config.watch
        schedule = self.config.schedule
        worker = self.worker
        scheduler = build_scheduler(schedule, worker.request, self.log)
        self.log.info(
            "daemon_started",
            pid=os.getpid(),
            paths=[str(p) for p in watch.paths],
            archive=str(self.config.archive.dir),
            config=str(self.config.source) if self.config.source else None,
            **database_of(self.config),
        )
        try:
            added = self.manager.recover(self._rebuilding, self.stop_requested.is_set)
        except ReindexCancelledError:  # stopped while rebuilding: the next start does it
            self.log.info("daemon_stopped", during="catalog rebuild")
            return 0
        if added:
            self.log.warning("index_recovered", runs_added=added)
        if self.sender is not None:  # after recover() emitted any events a crash lost
            self.sender.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        if self.reload_requested.is_set():  # asked while starting: before any file is gated
            self._reload()
        self.roots.start(watch.paths, missing_paths(self.config))
        worker.start()
        ticker = Ticker(
            {
                "rescan": schedule.rescan_seconds,
                "compact": schedule.compact_seconds,
                "poll": min(POLL_SECONDS, schedule.rescan_seconds),
                "decisions": DECISIONS_SECONDS,
            },
            self.clock,
            self._tick,
        )
        status = self._serve(ticker, scheduler)
        self._shutdown(scheduler)
        return status

    def _rebuilding(self, done: int, total: int) -> None:
        """A rebuild of the catalog at start goes on: ask systemd for more time to start,
        and say how far it is (every EXTEND_EVERY_SECONDS; never once a stop was asked,
        which would stretch the stop timeout instead)."""
        now = self.clock.monotonic()
        if self.stop_requested.is_set():  # the rebuild stops at its next chunk
            return
        if self._extended is None or now - self._extended >= EXTEND_EVERY_SECONDS:
            self._extended = now
            systemd.notify(
                f"EXTEND_TIMEOUT_USEC={EXTEND_BY_USEC}\n"
                f"STATUS=rebuilding the catalog: {done} of {total} run folders read"
            )
            self.log.info("catalog_rebuilding", done=done, total=total)

    def _rebuilding_while_serving(self, done: int, total: int) -> None:
        """A rebuild of the catalog in the worker goes on (a reindex, or the catalog found
        deleted): the worker is alive, so the watchdog keeps being pinged through a rebuild
        of minutes (see STALLED_SECONDS); log how far it is every
        EXTEND_EVERY_SECONDS. The rebuild at start (before the worker runs) is followed by
        _rebuilding instead, and so is one in the worker before READY (the startup scan's
        commit finding the catalog deleted): systemd's start timeout still runs then."""
        self.worker.beat()
        if not self.worker.scanned.is_set():
            self._rebuilding(done, total)
            return
        self._tell_rebuilding(done, total)

    def _reindex_reading(self, done: int, total: int) -> None:
        """How far the reindex reading beside the worker is: logged as a rebuild is, but it
        never beats the worker's heartbeat (the worker beats itself meanwhile, and a hung
        one must still show as stalled)."""
        self._tell_rebuilding(done, total)

    def _tell_rebuilding(self, done: int, total: int) -> None:
        now = self.clock.monotonic()
        if self._told is None or now - self._told >= EXTEND_EVERY_SECONDS:
            self._told = now
            self.log.info("catalog_rebuilding", done=done, total=total)

    def _database_back(self) -> None:
        """The shared archive's database answers again: files that failed meanwhile are
        tried at once, not after their backoff (up to 10 min)."""
        self.worker.request("retry")

    def _tick(self, job: str) -> None:
        """A job's interval came: the worker does it (polls only when folders need it)."""
        if job == "rescan":
            self.roots.warn_missing()
        if job != "poll" or self.watcher.unwatched_folders:
            self.worker.request(job)

    def _reload(self) -> None:
        self.reload_requested.clear()
        fresh = self.reader.read()
        if fresh is not None:  # applied by the worker, between two groups of files
            self.worker.inbox.put(Reload(fresh))

    def _serve(self, ticker: Ticker, scheduler: Any) -> int:
        ready = False
        interval = systemd.watchdog_interval()
        last_ping = last_look = 0.0
        worker = self.worker
        while not self.stop_requested.wait(0.2):
            now = self.clock.monotonic()
            if not ready and worker.scanned.is_set():
                ready = True
                scheduler.start()
                systemd.notify("READY=1\nSTATUS=watching")
                self.log.info("daemon_ready")
            if not self.watcher.is_alive():
                self.log.error("observer_died", action="exiting so systemd restarts the service")
                self.reporter.error("observer_died", "the file-system observer stopped")
                return 1
            if not worker.is_alive():
                self.log.error("worker_died", action="exiting so systemd restarts the service")
                self.reporter.error("worker_died", "the worker thread stopped")
                return 1
            if self.reload_requested.is_set():
                self._reload()
            if ready:
                ticker.poll()
            if now - last_look >= APPEAR_SECONDS:
                last_look = now
                self.roots.look()
            healthy = now - worker.heartbeat < STALLED_SECONDS
            state = ("ready" if ready else "starting") if healthy else "stalled"
            if self.reporter.due():
                depth = worker.waiting_files()
                self.reporter.write(state, depth, unwatched=self.watcher.unwatched_folders)
            self._tell_status_error()
            if interval is not None and healthy and now - last_ping >= interval:
                systemd.notify("WATCHDOG=1")
                last_ping = now
        return 0

    def _tell_status_error(self) -> None:
        """Log status_write_failed once when status.json cannot be written (status and
        /health then say the service is not running), and status_written when it can again."""
        error = self.reporter.write_error
        if error == self._status_error:
            return
        if error is not None:
            self.log.warning("status_write_failed", error=error)
        elif self._status_error is not None:
            self.log.info("status_written")
        self._status_error = error

    def _shutdown(self, scheduler: Any) -> None:
        started = time.perf_counter()
        systemd.notify("STOPPING=1")
        self.log.info("daemon_stopping")
        self.reporter.write("stopping", 0, force=True)
        self.stop_requested.set()  # the worker ends after its batch; a reindex is cancelled
        if self.sender is not None:  # at most 1 s; what is not sent waits in the outbox
            self.sender.stop(timeout=1.0)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.watcher.stop(timeout=2.0)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        worker = self.worker
        worker.wake()
        if worker.is_alive():
            # The worker compacts on its way out; it may wait for another writer's lock.
            worker.join(timeout=STOP_SECONDS - 2.0 - (time.perf_counter() - started))
        if not worker.finished.is_set():
            self.log.warning(
                "stop_timeout",
                action="exiting without the final compaction; the file in hand is taken "
                "at the next start",
            )
        self.log.info("daemon_stopped", duration_ms=elapsed_ms(started))
        self.reporter.write("stopped", 0, force=True)
        self._instance_lock.close()
