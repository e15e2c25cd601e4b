"""`gatewatch run`: the watcher, one writing worker, the scheduler, signals and systemd."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from daemon import systemd
from daemon.config import Config, load_config
from daemon.errors import AlreadyRunningError, ConfigError
from daemon.intake import Outcome, ingest_many
from daemon.jobs import Jobs, build_scheduler
from daemon.logs import get_logger
from daemon.notify.cli import attach_outbox
from daemon.notify.sender import Sender
from daemon.pending import PendingFiles, Signature, Verdict
from daemon.status import StatusReporter
from daemon.watcher import FileFilter, Watcher, WatchEvent, scan
from gating import GROUP_SIZE, NO_FAULTS, ArchiveError, Faults, FileLock, TrainingArchiveManager

__all__ = ["DAEMON_LOCK_NAME", "Service"]

DAEMON_LOCK_NAME = ".daemon.lock"
RETRY_SECONDS = 5.0
STOP_SECONDS = 10.0
DRAIN_LIMIT = 1000
BATCH_FILES = GROUP_SIZE  # one group commit per batch


@dataclass(frozen=True, slots=True)
class _Scan:
    """Look through folders for files the events did not report."""

    roots: tuple[Path, ...]
    startup: bool = False


@dataclass(frozen=True, slots=True)
class _Reload:
    """Reload the [gating] thresholds from the config file."""


@dataclass(frozen=True, slots=True)
class _Stop:
    """Finish the file in hand and end the worker."""


_Message = WatchEvent | _Scan | _Reload | _Stop


def _signature(path: Path) -> Signature | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _drop(_event: WatchEvent) -> None:
    """An event sink that loses everything (GATEWATCH_TEST_DROP_EVENTS)."""


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class _Worker(threading.Thread):
    """The one thread that reads files and writes the archive; it owns all file state."""

    def __init__(self, service: Service) -> None:
        super().__init__(name="gatewatch-worker", daemon=True)
        self.service = service
        self.config = service.config
        self.log = service.log
        self.inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        settle = self.config.watch.settle_seconds
        # A writer is waited for one rescan interval (at least 10 x settle) at most: after
        # an inotify overflow a lost close event must not hold a file back for long.
        stuck = max(self.config.schedule.rescan_seconds, 10 * settle)
        self.pending = PendingFiles(settle=settle, stuck_open=stuck)
        self.done: dict[Path, Signature] = {}
        self.rejected = service.manager.rejected_digests()
        self.scanned = threading.Event()
        self.heartbeat = time.monotonic()
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            self.heartbeat = now = time.monotonic()
            next_due = self.pending.next_due()
            timeout = 1.0 if next_due is None else min(1.0, max(0.0, next_due - now))
            try:
                self._handle(self.inbox.get(timeout=timeout))
                # Events are cheap: take those waiting first, but a bounded number, so a
                # flood (say, an inotify overflow being reconciled) cannot starve the files.
                for _ in range(DRAIN_LIMIT):
                    self._handle(self.inbox.get_nowait())
            except queue.Empty:
                pass
            # A bounded batch, then back to the inbox: a stop request, a reload or a fresh
            # file never waits behind a long backlog.
            self._take(self.pending.due(time.monotonic(), BATCH_FILES))

    # --- messages ----------------------------------------------------------------------

    def _handle(self, message: _Message) -> None:
        now = time.monotonic()
        if isinstance(message, _Stop):
            self.stopping = True
        elif isinstance(message, _Scan):
            self._scan(message)
        elif isinstance(message, _Reload):
            self._reload()
        elif message.kind == "folder":
            self._scan(_Scan((message.path,)))
        elif message.kind == "deleted":
            self.pending.forget(message.path)
            self.done.pop(message.path, None)
        else:
            signature = _signature(message.path)
            if signature is None or (
                self.done.get(message.path) == signature and message.path not in self.pending
            ):
                return  # gone, or handled already and unchanged since
            if message.kind == "written":
                self.pending.written(message.path, signature, now)
            elif message.kind == "completed":
                self.pending.completed(message.path, signature, now)
            else:
                self.pending.changed(message.path, signature, now)

    def _scan(self, request: _Scan) -> None:
        started = time.perf_counter()
        now, wall = time.monotonic(), time.time()
        found = 0
        for path, info in scan(
            request.roots, self.service.file_filter, self.config.watch.recursive
        ):
            signature = (info.st_ino, info.st_size, info.st_mtime_ns)
            if self.done.get(path) == signature:
                continue
            found += 1
            self.pending.found(path, signature, wall - info.st_mtime, now)
        if request.startup:
            self.log.info("startup_scan", files=found, duration_ms=_ms(started))
            self.scanned.set()
        elif found:
            self.log.info("rescan_found", files=found, duration_ms=_ms(started))

    def _reload(self) -> None:
        try:
            fresh = load_config(self.service.config_arg)
        except ConfigError as error:
            self.log.error("config_reload_failed", error=str(error), kept="previous thresholds")
            return
        self.service.manager.config = fresh.gating
        self.log.info("config_reloaded", gating=fresh.gating.as_table())

    # --- files ---------------------------------------------------------------------------

    def _take(self, due: list[Path]) -> None:
        """Archive the due files that are complete, as one ingest_many batch."""
        signatures: dict[Path, Signature] = {}
        for path in due:
            signature = _signature(path)
            verdict = self.pending.check(path, signature, time.monotonic())
            if (
                verdict is Verdict.TAKE
                and signature is not None
                and self.done.get(path) != signature
            ):
                signatures[path] = signature
        for outcome in ingest_many(self.service.manager, list(signatures), self.rejected):
            signature = signatures[outcome.source]
            if outcome.kind == "failed":
                self.pending.retry_later(outcome.source, signature, time.monotonic(), RETRY_SECONDS)
            else:
                self.done[outcome.source] = signature
            self._log(outcome)
            self.heartbeat = time.monotonic()

    def _log(self, outcome: Outcome) -> None:
        self.service.reporter.record(outcome)
        source = str(outcome.source)
        run = outcome.run
        if outcome.kind == "archived" and run is not None:
            self.log.info(
                "run_archived",
                timestamp=run.timestamp,
                run_id=run.run_id,
                approved=run.approved_count,
                review=run.review_count,
                dropped=run.dropped_count,
                approved_symbols=run.approved,
                source=source,
                duration_ms=outcome.duration_ms,
            )
        elif outcome.kind == "duplicate":
            self.log.info(
                "duplicate_skipped",
                source=source,
                timestamp=outcome.timestamp,
                sha256=outcome.sha256,
            )
        elif outcome.kind == "rejected":
            self.log.warning("file_rejected", source=source, reason=outcome.reason)
        elif outcome.kind == "failed":
            self.log.error(
                "archive_failed", source=source, reason=outcome.reason, retry_in_s=RETRY_SECONDS
            )
        else:
            self.log.debug("file_skipped", source=source, reason=outcome.reason)


class Service:
    """The long-running service; ``run()`` returns the process exit status."""

    def __init__(
        self, config: Config, config_arg: str | None = None, *, faults: Faults = NO_FAULTS
    ) -> None:
        self.config = config
        self.config_arg = config_arg
        self.log = get_logger("gatewatch")
        watch = config.watch
        # index.json is brought up to date by the scheduled compaction, not after commits.
        self.manager = TrainingArchiveManager(
            config.archive.dir,
            config.gating,
            max_file_bytes=watch.max_file_bytes,
            faults=faults,
            auto_compact=False,
        )
        self.file_filter = FileFilter(watch.include, watch.exclude, (config.archive.dir,))
        self.stop_requested = threading.Event()
        self._instance_lock = FileLock(
            config.archive.dir / DAEMON_LOCK_NAME, what="another service"
        )
        self.worker: _Worker | None = None
        # notify (issue 14): commits write events to the outbox; the sender delivers them.
        outbox = attach_outbox(self.manager, config.notify)
        self.sender = None if outbox is None else Sender(outbox, config.notify, self.log)
        self.reporter = StatusReporter(config.archive.dir)

    def _lock(self) -> None:
        """Hold the single-instance lock (the archive's lock type, on its own file)."""
        lock = self._instance_lock
        if not lock.try_acquire():
            holder = lock.path.read_text(errors="replace").strip() or "unknown"
            raise AlreadyRunningError(
                f"another gatewatch (pid {holder}) is already running on {lock.path.parent}"
            )
        lock.path.write_text(f"{os.getpid()}\n")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            if self.worker is not None:
                self.worker.inbox.put(_Reload())
        else:
            self.stop_requested.set()

    def run(self) -> int:
        """Start everything, serve until SIGTERM/SIGINT or a failure, then stop cleanly."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._lock()
        watch = self.config.watch
        for folder in watch.paths:
            folder.mkdir(parents=True, exist_ok=True)
        worker = self.worker = _Worker(self)
        emit: Callable[[WatchEvent], None] = worker.inbox.put
        if os.environ.get("GATEWATCH_TEST_DROP_EVENTS"):
            # Reliability tests: lose every event, so only the scans can find files.
            emit = _drop
        watcher = Watcher(
            watch.paths,
            self.file_filter,
            emit,
            observer=watch.observer,
            recursive=watch.recursive,
        )
        jobs = Jobs(
            self.manager,
            lambda: worker.inbox.put(_Scan(watch.paths)),
            self.stop_requested,
            self.log,
        )
        scheduler = build_scheduler(self.config.schedule, jobs, self.log)
        self.log.info(
            "daemon_started",
            pid=os.getpid(),
            paths=[str(p) for p in watch.paths],
            archive=str(self.config.archive.dir),
            observers={str(root): kind for root, kind in watcher.kinds.items()},
            config=str(self.config.source) if self.config.source else None,
        )
        added = self.manager.recover()
        if added:
            self.log.warning("index_recovered", runs_added=added)
        if self.sender is not None:  # notify (issue 14): after recover() re-emitted events
            self.sender.start()
        watcher.start()  # before the scan, so nothing slips between the two
        worker.start()
        worker.inbox.put(_Scan(watch.paths, startup=True))
        status = self._serve(watcher, scheduler, worker)
        self._shutdown(watcher, scheduler, worker)
        return status

    def _serve(self, watcher: Watcher, scheduler: Any, worker: _Worker) -> int:
        ready = False
        interval = systemd.watchdog_interval()
        last_ping = 0.0
        while not self.stop_requested.wait(0.2):
            if not ready and worker.scanned.is_set():
                ready = True
                scheduler.start()
                systemd.notify("READY=1\nSTATUS=watching")
                self.log.info("daemon_ready")
            if not watcher.is_alive():
                self.log.error("observer_died", action="exiting so systemd restarts the service")
                self.reporter.error("observer_died", "the file-system observer stopped")
                return 1
            if not worker.is_alive():
                self.log.error("worker_died", action="exiting so systemd restarts the service")
                self.reporter.error("worker_died", "the worker thread stopped")
                return 1
            now = time.monotonic()
            healthy = now - worker.heartbeat < 120
            state = ("ready" if ready else "starting") if healthy else "stalled"
            self.reporter.write(state, len(worker.pending) + worker.inbox.qsize())
            if interval is not None and healthy and now - last_ping >= interval:
                systemd.notify("WATCHDOG=1")
                last_ping = now
        return 0

    def _shutdown(self, watcher: Watcher, scheduler: Any, worker: _Worker) -> None:
        started = time.perf_counter()
        systemd.notify("STOPPING=1")
        self.log.info("daemon_stopping")
        self.reporter.write("stopping", 0, force=True)
        self.stop_requested.set()  # also cancels a running reindex
        if self.sender is not None:  # notify (issue 14): at most 1 s; the rest waits
            self.sender.stop(timeout=1.0)
        watcher.stop(timeout=2.0)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        worker.inbox.put(_Stop())
        worker.join(timeout=STOP_SECONDS / 2)
        self.manager.lock_timeout = 2.0
        try:
            runs = self.manager.compact()
            self.log.info("compacted", runs=runs, duration_ms=_ms(started))
        except ArchiveError as error:
            self.log.error("compact_failed", error=str(error))
        self.log.info("daemon_stopped", duration_ms=_ms(started))
        self.reporter.write("stopped", 0, force=True)
        self._instance_lock.close()
