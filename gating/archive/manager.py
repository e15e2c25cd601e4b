"""TrainingArchiveManager: the archive's public face, joining the parts of this package."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.decisions import (
    resolve_timestamp,
    take_decision,
)
from gating.archive.faults import NO_FAULTS, Faults
from gating.archive.layout import Layout
from gating.archive.lock import FileLock
from gating.archive.maintenance import (
    Recovery,
    clear_litter,
    rebuild_catalog,
    write_index,
)
from gating.archive.reader import ArchiveReader, Progress
from gating.errors import ArchiveError, SummaryError
from gating.rules import ModelGatingConfig
from gating.summary import DEFAULT_MAX_BYTES, parse_summary
from gating.verdicts import Champion, Decision, PendingReview

if TYPE_CHECKING:
    from gating.archive.commit import PreparedRun
    from gating.archive.outbox import Outbox
    from gating.archive.recovery import DamageLog
    from gating.archive.writer import RunWriter
    from gating.regate import RegateReport
    from gating.run import ArchivedRun

# The write path (rendering, publishing, events) and the what-if are imported when first
# used: a process that only queries the catalog (`gatewatch history`) never loads them.

__all__ = ["TrainingArchiveManager"]

Summaryish = Mapping[str, Any] | bytes | bytearray | str
_T = TypeVar("_T")

_log = logging.getLogger("gating.archive")


class TrainingArchiveManager:
    """Gates run summaries and keeps them in an archive folder with a catalog and index."""

    def __init__(
        self,
        archive_dir: str | os.PathLike[str] = "training_archives",
        config: ModelGatingConfig | None = None,
        *,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 30.0,
        sync_journal: bool = False,
        faults: Faults = NO_FAULTS,
        cancelled: threading.Event | None = None,
        auto_compact: bool = True,
        durable: bool = True,
    ) -> None:
        """Open (lazily create) the archive at ``archive_dir``.

        A run is durable when ``archive_training_run`` returns: its files, its folder and
        the rename that publishes it are fsynced. The catalog that indexes it is derived
        data: its commits reach the disk at its next checkpoint (``sync_journal=True``
        flushes each one), and a run lost from it by a power cut is found again in its
        folder by the next writer (see ``recover``).

        ``faults`` arms crash and failure points (tests only); ``cancelled`` cuts a wait
        for the writer lock short; ``auto_compact`` folds new runs into index.json while
        that is cheap; ``durable=False`` skips every fsync (bulk loading for benchmarks).
        """
        self.archive_dir = Path(archive_dir)
        self.layout = Layout(self.archive_dir)
        self.config = config or ModelGatingConfig()
        self.max_file_bytes = max_file_bytes
        self.lock_timeout = lock_timeout
        self.faults = faults
        self.cancelled = cancelled
        self.auto_compact = auto_compact
        self.durable = durable
        self._catalog = Catalog(self.layout.catalog, durable=durable, full_sync=sync_journal)
        self._lock = FileLock(self.layout.lock)
        self._recovered = False  # recovery has begun (taking the lock again skips it)
        self._ready = False  # recovery has finished: the catalog matches the folders
        self._damage_log: DamageLog | None = None
        self._run_writer: RunWriter | None = None
        # Where each commit writes its runs' events for notifications; None keeps none.
        self.outbox: Outbox | None = None
        self.reader = ArchiveReader(self.layout, self._catalog, self._read)

    @property
    def _damage(self) -> DamageLog:
        if self._damage_log is None:
            from gating.archive.recovery import DamageLog  # noqa: PLC0415 - see the imports

            self._damage_log = DamageLog()
        return self._damage_log

    @property
    def _writer(self) -> RunWriter:
        if self._run_writer is None:
            from gating.archive.writer import RunWriter  # noqa: PLC0415 - see the imports

            self._run_writer = RunWriter(self.layout, self._catalog, self._damage)
        return self._run_writer

    # --- paths and lifetime ----------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """The master index file."""
        return self.layout.index

    @property
    def catalog_path(self) -> Path:
        """The SQLite query catalog."""
        return self.layout.catalog

    @property
    def rejected_dir(self) -> Path:
        """Where rejected files and their reasons are kept."""
        return self.layout.rejected

    def close(self, *, fold: bool = True) -> None:
        """Fold every run into index.json if it lacks some (unless ``fold=False``), then let
        go of the files (the catalog's connections, the lock file)."""
        try:
            if fold and self.layout.root.is_dir() and self._writer.pending_for_index() > 0:
                self.compact()
        finally:
            self._catalog.close()
            self._lock.close()

    def __enter__(self) -> TrainingArchiveManager:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- locking and recovery --------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the archive's exclusive writer lock (re-entrant within this object).

        Waits at most ``lock_timeout`` seconds, or until ``cancelled`` is set, then raises
        ArchiveBusyError. The first time, recovery runs under it.
        """
        self._lock.acquire(self.lock_timeout, self.cancelled)
        try:
            # Recovery runs once, and again when the catalog file was deleted or replaced
            # under an open connection (another process then rebuilds it, or this one does).
            if self._catalog.refresh() or not self._recovered:
                self._recover()
            yield
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Hold the writer lock; an OSError inside becomes one ArchiveError line."""
        try:
            with self.writer_lock():
                yield
        except ArchiveError:
            raise
        except OSError as error:
            raise ArchiveError(f"{self.archive_dir}: cannot {what}: {error}") from None

    def recover(self) -> int:
        """Clear what a crash left, and make the catalog match the run folders.

        Every writer does this once per process before its first write; the service at
        start. Returns how many runs were added to the catalog.
        """
        self._recovered = True  # so that taking the lock does not run it a first time
        with self._writing("recover"):
            return self._recover().added

    def _recover(self) -> Recovery:
        from gating.archive.recovery import recover  # noqa: PLC0415 - see the imports

        self._recovered = True
        found = recover(
            self.layout,
            self._catalog,
            self._damage,
            faults=self.faults,
            durable=self.durable,
            outbox=self.outbox,
        )
        self._ready = True  # readers on other threads trust the catalog from now on
        return found

    def _read(self, query: Callable[[], _T]) -> _T:
        """Run a catalog query; a catalog not yet built or damaged is rebuilt first."""
        try:  # not _recovered: it is set as recovery starts, and a rebuild takes minutes
            if self._catalog.refresh():  # the file was deleted or replaced: recover again
                self._recovered = self._ready = False
            if self._ready or self._catalog.is_built() or not self.layout.root.is_dir():
                return query()
        except CatalogDamagedError:
            self._catalog.close()
            self._recovered = self._ready = False
        with self._writing("rebuild the catalog"):
            pass  # taking the lock recovers: damage is logged, the catalog rebuilt
        return query()

    # --- writing ---------------------------------------------------------------------

    def prepare(
        self, summary_data: Summaryish, *, source: str | None = None, sha256: str | None = None
    ) -> PreparedRun:
        """Parse and gate a run without touching the disk (SummaryError if invalid).

        ``commit`` gives it a timestamp, renders and writes it; ``commit_many`` writes
        several prepared runs as one group. ``archive_training_run`` does both in turn.
        ``sha256`` is the bytes' hash when the caller already computed it.
        """
        from gating.archive.commit import PreparedRun  # noqa: PLC0415 - see the imports
        from gating.run import gate_models  # noqa: PLC0415

        summary = parse_summary(summary_data, max_bytes=self.max_file_bytes, sha256=sha256)
        return PreparedRun(summary, gate_models(summary, self.config), self.config, source)

    def commit(self, prepared: PreparedRun) -> ArchivedRun:
        """Archive a prepared run (once per sha256); ArchiveError if it cannot be written."""
        return self.commit_many([prepared])[0]

    def commit_many(self, prepared: Sequence[PreparedRun]) -> list[ArchivedRun]:
        """Archive prepared runs as one group commit; results in the same order.

        Under the writer lock each new run gets its timestamp and is rendered once; all
        the group's files are flushed with one syncfs before the first run is renamed into
        place, and the archive folder is fsynced once after the last; the catalog takes
        the group in one transaction. A summary already archived, or twice in the group,
        comes back with ``duplicate=True``. ArchiveError if the group cannot be written;
        runs renamed before the failure stay archived and catalogued (a retry finds them).
        """
        with self._writing("archive"):
            return self._writer.commit(
                prepared,
                faults=self.faults,
                durable=self.durable,
                outbox=self.outbox,
                fold=self.auto_compact,
            )

    def archive_training_run(
        self, summary_data: Summaryish, *, source: str | None = None
    ) -> ArchivedRun:
        """Gate a summary and archive it as a new run; the same bytes are archived once.

        Raises SummaryError for an invalid summary (nothing is written) and ArchiveError
        when the archive cannot be written (nothing is published).
        """
        return self.commit(self.prepare(summary_data, source=source))

    def archive_training_runs(self, summaries: Iterable[Summaryish]) -> list[ArchivedRun]:
        """archive_training_run for many summaries, committed in groups of GROUP_SIZE.

        Much faster than one at a time: a group's files are flushed with one syncfs. An
        invalid summary raises SummaryError naming its position, after the summaries
        before it are archived; calling again is safe (those come back as duplicates).
        """
        from gating.archive.commit import GROUP_SIZE  # noqa: PLC0415 - see the imports

        runs: list[ArchivedRun] = []
        group: list[PreparedRun] = []
        for position, summary_data in enumerate(summaries):
            try:
                group.append(self.prepare(summary_data))
            except SummaryError as error:
                runs.extend(self.commit_many(group))
                raise SummaryError(f"summary #{position}: {error}") from None
            if len(group) == GROUP_SIZE:
                runs.extend(self.commit_many(group))
                group.clear()
        runs.extend(self.commit_many(group))
        return runs

    def reject(
        self, raw: bytes | None, *, source: str, reason: str, sha256: str | None = None
    ) -> Path:
        """Keep a copy of a rejected file and why, in ``_rejected/``; return the reason file."""
        from gating.archive.rejections import reject  # noqa: PLC0415 - see the imports

        with self._writing("record rejection"):
            stamp = self._writer.stamp()
            return reject(
                self.layout, stamp, raw, source=source, reason=reason, sha256=sha256,
                faults=self.faults,
            )  # fmt: skip

    def index_decisions(self) -> int:
        """Index decision files the catalog lacks (a `decide` that crashed between its file
        and the catalog); their events go to the outbox. Returns how many."""
        from gating.archive.decisions import sync_decisions  # noqa: PLC0415 - see the imports

        with self._writing("index decisions"):
            return sync_decisions(self.layout, self._catalog, self.outbox)

    def rejected_digests(self) -> set[str]:
        """The sha256 of every file already rejected (so it is not retried unchanged)."""
        from gating.archive.rejections import rejected_digests  # noqa: PLC0415

        return rejected_digests(self.layout)

    # --- maintenance -----------------------------------------------------------------

    def compact(self) -> int:
        """Write index.json from the catalog; return how many runs it lists."""
        with self._writing("compact"):
            return write_index(self.layout, self._catalog, self.faults, sync=self.durable)

    def reindex(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Rebuild the catalog and index.json from the run folders alone; return the runs.

        Damaged run folders are skipped and reported (``damaged_runs``). When
        ``cancelled()`` turns true the rebuild stops and leaves everything as it was
        (ReindexCancelledError).
        """
        with self._writing("reindex"):
            clear_litter(self.layout)
            count, damaged = rebuild_catalog(self.layout, self._catalog, progress, cancelled)
            self._damage.runs(damaged)
            self._writer.forget_pending()
            write_index(self.layout, self._catalog, self.faults, sync=self.durable)
            return count

    # --- queries (ArchiveReader answers them) ------------------------------------

    def list_runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """Every run (the newest ``last``), oldest first: timestamp, run_id, source, counts."""
        return self.reader.list_runs(last)

    def get_approved_models(self, timestamp: str | None = None) -> list[str]:
        """Symbols whose verdict is APPROVED in a run (the latest when ``timestamp`` is None)."""
        return self.reader.get_approved_models(timestamp)

    def get_symbol_history(self, symbol: str, last: int | None = None) -> list[dict[str, Any]]:
        """One dict per run that gated ``symbol``, oldest first (only the newest ``last``)."""
        return self.reader.get_symbol_history(symbol, last)

    def pending_reviews(self, last: int | None = None) -> list[PendingReview]:
        """REVIEW models with no decision, newest run first, each with its reasons."""
        return self.reader.pending_reviews(last)

    def get_deployable(self, at: str | datetime | None = None) -> dict[str, Champion]:
        """Every symbol's champion, keyed by symbol; ``at``: as it stood at that TIME."""
        return self.reader.get_deployable(at)

    def decisions(
        self, symbol: str | None = None, *, timestamp: str | None = None
    ) -> list[Decision]:
        """The audit trail: every decision (on ``symbol``; on one run's models), oldest first."""
        return self.reader.decisions(symbol, timestamp=timestamp)

    def regate(
        self,
        config: ModelGatingConfig,
        since: str | datetime | None = None,
        *,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> RegateReport:
        """What if the thresholds were ``config``'s? Every run since ``since``, gated again."""
        return self.reader.regate(config, since, progress=progress, workers=workers)

    def assess(self, summary_data: Summaryish) -> ArchivedRun:
        """Gate a summary without archiving anything (a dry run), against today's champions."""
        from gating.archive.champions import GroupChampions  # noqa: PLC0415 - see the imports
        from gating.archive.commit import PreparedRun  # noqa: PLC0415
        from gating.run import gate_models, gate_summary  # noqa: PLC0415

        summary = parse_summary(summary_data, max_bytes=self.max_file_bytes)
        stamp = self._writer.stamper.next(None)
        prepared = PreparedRun(summary, gate_models(summary, self.config), self.config)
        if self.config.champion_tolerances:
            champions = GroupChampions(
                lambda symbol: self._read(lambda: self._catalog.champion(symbol))
            )
            prepared = champions.compare(prepared, stamp)
        return gate_summary(summary, self.config, stamp, assessments=prepared.assessments)

    # --- decisions -------------------------------------------------------------------

    def decide(
        self,
        timestamp: str,
        symbol: str,
        verdict: str,
        *,
        by: str,
        reason: str,
        force: bool = False,
    ) -> Decision:
        """Approve or drop one model of one run; the decision is on disk when this returns.

        ``timestamp`` may be a unique prefix or ``latest``; ``verdict`` is approve or drop.
        Overriding the gate (approving a DROP, dropping an APPROVED) needs ``force``. The
        returned Decision carries the events it caused (``events``), also written to
        ``outbox`` when there is one.
        """
        self.reader.resolve_timestamp(timestamp)  # an unknown run fails before anything is created
        with self._writing("decide"):
            return take_decision(
                self.layout, self._catalog, resolve_timestamp(self._catalog, timestamp), symbol,
                verdict, by=by, reason=reason, force=force, faults=self.faults, sync=self.durable,
                outbox=self.outbox,
            )  # fmt: skip
