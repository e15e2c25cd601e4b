"""The service's one writer thread: it reads files, archives them and runs the archive jobs."""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.backoff import Backoff
from daemon.config import Config
from daemon.intake import Outcome, ingest_many
from daemon.jobs import Jobs
from daemon.logs import elapsed_ms
from daemon.outcome_log import log_failure, log_outcome
from daemon.pending import PendingFiles, Signature, Verdict
from daemon.reloading import apply_gating
from daemon.scan import FileFilter
from daemon.scan_passes import ScanPasses
from daemon.startup import StartupTally
from daemon.ticker import Clock
from daemon.unread import Unread
from daemon.watcher import WatchEvent
from gating import GROUP_SIZE, TrainingArchiveManager
from gating.progress import Progress

__all__ = ["JOBS", "Reload", "Scan", "Worker"]

DRAIN_LIMIT = 1000
BATCH_FILES = GROUP_SIZE  # one group commit per batch
JOBS = ("rescan", "poll", "compact", "reindex", "decisions", "retry")
REINDEX_STOP_SECONDS = 3.0  # how long a stop waits for a reindex's reading to see it

# (manager, paths, what was rejected before, the paths that may wait if cut short, the
# watched folders a file must lie in): intake.ingest_many.
Ingest = Callable[
    [TrainingArchiveManager, Sequence[Path], set[str] | None, Collection[Path], Sequence[Path]],
    Iterator[Outcome],
]


@dataclass(frozen=True, slots=True)
class Scan:
    """Look through these folders now (a folder that appeared or was moved in)."""

    roots: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Reload:
    """Apply the [gating] thresholds of a config the service has just loaded."""

    config: Config


@dataclass(frozen=True, slots=True)
class _Wake:
    """Nothing to do but look at the requested jobs and the stop event."""


_Message = WatchEvent | Scan | Reload | _Wake


def _signature(path: Path) -> Signature | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class Worker(threading.Thread):
    """The one thread that reads files and writes the archive; it owns all file state.

    Other threads only put messages in ``inbox`` or call ``request(job)``: a job is
    queued at most once, and a scan runs a slice at a time, so neither a slow scan nor a
    pile of requests can starve the files.
    """

    def __init__(
        self,
        config: Config,
        manager: TrainingArchiveManager,
        file_filter: FileFilter,
        log: Any,
        *,
        clock: Clock,
        stopping: threading.Event,
        poll_roots: Callable[[], list[Path]] = list,
        ingest: Ingest = ingest_many,
        on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
        on_gone: Callable[[Path], None] = lambda _path: None,
        reindex_progress: Progress | None = None,
    ) -> None:
        super().__init__(name="gatewatch-worker", daemon=True)
        self.on_outcome = on_outcome  # the status counters
        self.on_gone = on_gone  # a file deleted: its failures no longer count
        self.config = config
        self.manager = manager
        self.log = log
        self.clock = clock
        self.stopping = stopping
        self.poll_roots = poll_roots
        self.ingest = ingest
        self.jobs = Jobs(manager, stopping, log, reading_progress=reindex_progress)
        self.inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._unread = Unread()  # the files named by WatchEvents in the inbox
        settle = config.watch.settle_seconds
        # A file held open is waited for (an hour at most); after an inotify overflow, whose
        # lost close must not hold it back long, a rescan interval (at least 10 x settle).
        stuck = max(config.schedule.rescan_seconds, 10 * settle)
        # A file cut short (its writer closes it between pieces) waits 10 x settle as it
        # is before it is rejected: a writer pausing longer than settle was rejected
        # half-way, once for each pause.
        self.pending = PendingFiles(settle=settle, stuck_open=stuck, cut_wait=10 * settle)
        self.backoff = Backoff()
        self.done: dict[Path, Signature] = {}
        self.rejected = manager.writer.rejected_keys()
        self.scanned = threading.Event()
        self.heartbeat = clock.monotonic()
        self.finished = threading.Event()
        self._requested: set[str] = {"startup"}
        self._requests_lock = threading.Lock()
        watch = config.watch  # fixed for the service's life: a reload applies [gating] only
        self.scans = ScanPasses(file_filter, watch.paths, watch.recursive, log, clock)
        self._startup = StartupTally()

    # --- what other threads call -----------------------------------------------------

    def request(self, job: str) -> bool:
        """Ask for a job (``JOBS``); False when it is already queued (requests coalesce)."""
        with self._requests_lock:
            if job in self._requested:
                return False
            self._requested.add(job)
        self.inbox.put(_Wake())
        return True

    def tell(self, event: WatchEvent) -> None:
        """Hand the worker one of the watcher's events."""
        self._unread.add(event)
        self.inbox.put(event)

    def waiting_files(self) -> int:
        """How many files wait, each once (see Unread.waiting)."""
        return self._unread.waiting(self.pending)

    def beat(self) -> None:
        """Say the worker is alive in the middle of a long job (a catalog rebuild's chunk)."""
        self.heartbeat = self.clock.monotonic()

    def wake(self) -> None:
        """Make the worker look at the stop event now."""
        self.inbox.put(_Wake())

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.step()
            self.jobs.abandon_reindex(REINDEX_STOP_SECONDS)
            self.jobs.compact()  # the final compaction, by the one writer
        finally:
            self.finished.set()

    def step(self, block: bool = True) -> None:
        """One turn: messages, the requested jobs, a slice of scan, one batch of files."""
        self.heartbeat = now = self.clock.monotonic()
        timeout = 0.0
        if block and self.scans.current is None and not self._requested:
            next_due = self.pending.next_due()
            timeout = 1.0 if next_due is None else min(1.0, max(0.0, next_due - now))
        try:
            self._handle(self.inbox.get(timeout=timeout) if timeout else self.inbox.get_nowait())
            # Events are cheap: take those waiting first, but a bounded number, so a
            # flood (say, an inotify overflow being reconciled) cannot starve the files.
            for _ in range(DRAIN_LIMIT):
                self._handle(self.inbox.get_nowait())
        except queue.Empty:
            pass
        if self.stopping.is_set():
            return
        self._run_jobs()
        self._scan_slice()
        if not self.stopping.is_set():
            # A bounded batch, then back to the inbox: a stop request, a reload or a fresh
            # file never waits behind a long backlog.
            self._take(self.pending.due(self.clock.monotonic(), BATCH_FILES))

    def _take_request(self, job: str) -> bool:
        with self._requests_lock:
            if job not in self._requested:
                return False
            self._requested.discard(job)
            return True

    def _run_jobs(self) -> None:
        self.jobs.finish_reindex()
        if self._take_request("reindex"):
            self.jobs.reindex()
        if self._take_request("compact"):
            self.jobs.compact()
        if self._take_request("decisions"):
            self.jobs.decisions()
        if self._take_request("retry"):  # the shared archive's database is back
            retried = self.pending.due_now(self.backoff.rearm(), self.clock.monotonic())
            if retried:
                self.log.info("files_retried", files=retried)
        if self.scans.current is not None:
            return  # at most one scan queued or running: a request meanwhile is dropped
        if self._take_request("startup"):
            self.scans.start("startup")
        elif self._take_request("rescan"):
            self._take_request("poll")  # a full rescan covers the unwatched folders too
            self.scans.start("rescan")
        elif self._take_request("poll") and self.scans.poll_due():
            roots = self.poll_roots()
            if roots:
                self.scans.start_poll(roots)

    # --- messages ----------------------------------------------------------------------

    def _handle(self, message: _Message) -> None:
        now = self.clock.monotonic()
        if isinstance(message, _Wake):
            return
        if isinstance(message, Scan):
            self.scans.scan_at_once(message.roots, self._found)
            return
        if isinstance(message, Reload):
            self._reload(message.config)
            return
        self._unread.read(message)
        if message.kind == "folder":
            self.scans.scan_at_once((message.path,), self._found)
        elif message.kind == "lost":  # an inotify overflow: closes too, perhaps
            self.pending.closes_lost()
            self.request("rescan")  # a slice at a time; overflows in a burst coalesce
        elif message.kind == "deleted":
            self.pending.forget(message.path)
            self.backoff.forget(message.path)
            self.done.pop(message.path, None)
            self.pending.settled(message.path)
            self._startup.forget(message.path)  # gone: startup_backlog_done need not wait
            self.on_gone(message.path)
            self._startup_done()
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

    def _reload(self, fresh: Config) -> None:
        running = dataclasses.replace(self.config, gating=self.manager.config)
        self.config = apply_gating(self.manager, running, fresh, self.log)

    # --- scans -------------------------------------------------------------------------

    def _found(self, path: Path, info: os.stat_result, now: float, wall: float) -> bool:
        signature = (info.st_ino, info.st_size, info.st_mtime_ns)
        if self.done.get(path) == signature or path in self.pending:
            return False
        self.pending.found(path, signature, wall - info.st_mtime, now)
        return True

    def _found_at_startup(self, path: Path, info: os.stat_result, now: float, wall: float) -> bool:
        """_found, and the file counted for startup_backlog_done when it is new."""
        if not self._found(path, info, now, wall):
            return False
        self._startup.found(path)
        return True

    def _scan_slice(self) -> None:
        """Advance the scan in progress; log it once it is done."""
        current = self.scans.current
        if current is None:
            return
        startup = current.kind == "startup"
        take = self._found_at_startup if startup else self._found
        finished = self.scans.advance(take, hurry=lambda: len(self.pending) > 0)
        if finished is None:
            return
        if startup:
            self.log.info(
                "startup_scan", files=finished.found, duration_ms=elapsed_ms(finished.started)
            )
            self._startup.scanned = True
            self.scanned.set()
            self._startup_done()
        elif finished.found:
            self.log.info(
                "rescan_found",
                files=finished.found,
                kind=finished.kind,
                duration_ms=elapsed_ms(finished.started),
            )

    # --- files ---------------------------------------------------------------------------

    def _take(self, due: list[Path]) -> None:
        """Archive the due files that are complete, as one ingest batch."""
        signatures: dict[Path, Signature] = {}
        for path in due:
            signature = _signature(path)
            verdict = self.pending.check(path, signature, self.clock.monotonic())
            if (
                verdict is Verdict.TAKE
                and signature is not None
                and self.done.get(path) != signature
            ):
                signatures[path] = signature
            elif verdict is Verdict.HELD:  # said: it waits for its close, up to an hour
                action = "waiting for its writer to close it (an hour at most)"
                self.log.warning("file_held_open", source=str(path), action=action)
            elif verdict is not Verdict.WAIT:
                self._startup.forget(path)
                self.backoff.forget(path)
                self.pending.settled(path)
        if not signatures:
            return
        now = self.clock.monotonic()
        may_wait = {p for p, seen in signatures.items() if self.pending.may_wait(p, seen, now)}
        watched = self.config.watch.paths
        outcomes = self.ingest(self.manager, list(signatures), self.rejected, may_wait, watched)
        for outcome in outcomes:
            signature = signatures[outcome.source]
            if outcome.kind == "incomplete":  # its writer may close it between writes
                self.pending.cut_short(outcome.source, signature, self.clock.monotonic())
                self.log.debug("file_incomplete", source=str(outcome.source), reason=outcome.reason)
                continue
            if outcome.kind != "failed":  # a failure is retried: the wait it had still counts
                self.pending.settled(outcome.source)
            self.on_outcome(outcome)
            if outcome.kind == "failed":
                retry = self.backoff.failed(outcome.source, str(outcome.reason), signature)
                now = self.clock.monotonic()
                self.pending.retry_later(outcome.source, signature, now, retry.delay)
                log_failure(self.log, outcome, retry.delay, retry.attempts, news=retry.news)
            else:
                self.done[outcome.source] = signature
                if self.backoff.succeeded(outcome.source):
                    self.log.info("archive_recovered", source=str(outcome.source))
                log_outcome(self.log, outcome, quiet=outcome.source in self._startup)
            self._startup.handled(outcome.source, outcome.kind)
            self.heartbeat = self.clock.monotonic()
        self._startup_done()

    def _startup_done(self) -> None:
        """Once every file the startup scan found is handled: one line with the totals."""
        totals = self._startup.summary()
        if totals is not None:
            self.log.info("startup_backlog_done", **totals)
