"""TrainingArchiveManager: the archive's public face, a reader, a writer and a review desk."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gating.archive.catalog import Catalog
from gating.archive.disk import DISK, Disk
from gating.archive.layout import Layout
from gating.archive.reader import ArchiveReader
from gating.archive.review import ReviewDesk
from gating.archive.storage import Summaryish, Writer
from gating.archive.writer import ArchiveWriter
from gating.arguments import callback, count, folder, gating_config, maybe_text, text
from gating.arguments import source as source_arg
from gating.arguments import summaries as summaries_arg
from gating.arguments import workers as workers_arg
from gating.errors import DecisionError, GatingConfigError, shown
from gating.progress import Progress
from gating.rules import ModelGatingConfig
from gating.thresholds import DEFAULT_MAX_BYTES
from gating.verdicts import Champion, Decision, PendingReview

if TYPE_CHECKING:
    from gating.archive.commit import PreparedRun
    from gating.archive.outbox import Outbox
    from gating.regate import RegateReport
    from gating.run import ArchivedRun

__all__ = ["TrainingArchiveManager"]


class TrainingArchiveManager:
    """Gates run summaries and keeps them in an archive folder with a catalog and index.

    It joins three parts over one catalog: ``reader`` (queries of runs, models and
    history), ``writer`` (commits, rejections, recovery, maintenance, under the lock) and
    ``review`` (decisions, the review queue, champions, the audit). Its own methods are
    the library's API; everything else is on the part that does it.
    """

    def __init__(
        self,
        archive_dir: str | os.PathLike[str] = "training_archives",
        config: ModelGatingConfig | None = None,
        *,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 30.0,
        sync_journal: bool = False,
        disk: Disk = DISK,
        outbox: Outbox | None = None,
        cancelled: threading.Event | None = None,
        auto_compact: bool = True,
        durable: bool = True,
        rebuilding: Progress | None = None,
        rebuild_wait: float | None = None,
    ) -> None:
        """Open (lazily create) the archive at ``archive_dir``.

        A run is durable when ``archive_training_run`` returns: its files, its folder and
        the rename that publishes it are fsynced. The catalog that indexes it is derived
        data: its commits reach the disk at its next checkpoint (``sync_journal=True``
        flushes each one), and a run lost from it by a power cut is found again in its
        folder by the next writer (see ``recover``).

        ``disk`` writes every file (tests give one that crashes or fails at named steps);
        ``outbox`` receives the events of every write (None keeps none); ``cancelled``
        cuts a wait for the writer lock short; ``auto_compact`` folds new runs into
        index.json while that is cheap; ``durable=False`` skips every fsync (bulk loading
        for benchmarks); ``rebuilding(done, total)`` follows every rebuild of the catalog
        no caller follows itself (one found deleted by a query, say: a service shows with
        it that it is alive); with ``rebuild_wait``, a query that needs such a rebuild has
        it done on a thread of its own and waits at most that many seconds, then is
        ArchiveBusyError saying how far it is (a dashboard keeps answering).
        """
        config = gating_config("config", config)
        if not folder("archive_dir", archive_dir):  # Path("") is the current folder: never meant
            raise GatingConfigError("archive_dir: must name a folder, not be empty")
        self.archive_dir = Path(archive_dir)
        self.layout = Layout(self.archive_dir)
        catalog = Catalog(
            self.layout.catalog,
            durable=durable,
            full_sync=sync_journal,
            nothing_archived=self.layout.holds_no_run,
        )
        self.writer: Writer = ArchiveWriter(
            self.layout, catalog, config or ModelGatingConfig(), max_file_bytes=max_file_bytes,
            lock_timeout=lock_timeout, cancelled=cancelled, auto_compact=auto_compact,
            durable=durable, disk=disk, outbox=outbox, rebuilding=rebuilding,
            rebuild_wait=rebuild_wait,
        )  # fmt: skip
        writer = self.writer
        assert isinstance(writer, ArchiveWriter)
        self.reader = ArchiveReader(self.layout, catalog, writer.ensure)
        self.review = ReviewDesk(self.layout, catalog, writer.ensure, lambda: writer)

    # --- settings and paths ------------------------------------------------------------

    @property
    def config(self) -> ModelGatingConfig:
        """The gating rules new runs are gated by (the service's reload replaces them)."""
        return self.writer.config

    @config.setter
    def config(self, config: ModelGatingConfig) -> None:
        self.writer.config = gating_config("config", config) or ModelGatingConfig()

    @property
    def max_file_bytes(self) -> int:
        """The largest summary accepted, in bytes."""
        return self.writer.max_file_bytes

    @property
    def outbox(self) -> Outbox | None:
        """Where every write's events go (None: no notification targets)."""
        return self.writer.outbox

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
        self.writer.close(fold=fold)

    def __enter__(self) -> TrainingArchiveManager:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing (ArchiveWriter does it) -----------------------------------------------

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
        return self.writer.archive_many(summaries_arg(summaries))

    def prepare(
        self, summary_data: Summaryish, *, source: str | None = None, sha256: str | None = None
    ) -> PreparedRun:
        """Parse and gate a run without touching the disk (SummaryError if invalid).

        ``commit`` gives it a timestamp, renders and writes it; ``commit_many`` writes
        several prepared runs as one group. ``archive_training_run`` does both in turn.
        ``sha256`` is the bytes' hash when the caller already computed it.
        """
        return self.writer.prepare(summary_data, source=source_arg(source), sha256=sha256)

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
        return self.writer.commit_many(prepared)

    def recover(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Clear what a crash left and make the catalog match the run folders; return how
        many runs were added (every writer does this once before its first write).
        If the catalog must be rebuilt (minutes at a million runs), ``progress(done,
        total)`` is called as run folders are read, and ``cancelled()`` turning true stops
        the rebuild (ReindexCancelledError; the next writer rebuilds it)."""
        return self.writer.recover(progress, cancelled)

    def compact(self) -> int:
        """Write index.json from the catalog; return how many runs it lists."""
        return self.writer.compact()

    def reindex(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Rebuild the catalog from the run folders alone, and index.json with it up to
        100,000 runs (above, compaction writes it); return the runs (damaged run folders
        are skipped and listed by ``reader.damaged_runs``; a rebuild that ``cancelled()``
        stops leaves everything as it was)."""
        return self.writer.reindex(callback("progress", progress), callback("cancelled", cancelled))

    # --- queries (ArchiveReader answers them) ------------------------------------------

    def list_runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """Every run (the newest ``last``), oldest first: timestamp, run_id, source, counts."""
        return self.reader.list_runs(count("last", last))

    def get_approved_models(self, timestamp: str | None = None) -> list[str]:
        """Symbols whose verdict is APPROVED in a run (the latest when ``timestamp`` is None)."""
        return self.reader.get_approved_models(maybe_text("timestamp", timestamp))

    def get_symbol_history(self, symbol: str, last: int | None = None) -> list[dict[str, Any]]:
        """One dict per run that gated ``symbol``, oldest first (only the newest ``last``)."""
        return self.reader.get_symbol_history(text("symbol", symbol), count("last", last))

    def regate(
        self,
        config: ModelGatingConfig,
        since: str | datetime | None = None,
        *,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> RegateReport:
        """What if the thresholds were ``config``'s? Every run since ``since``, gated again."""
        return self.reader.regate(
            config, since, progress=callback("progress", progress), workers=workers_arg(workers)
        )

    def assess(self, summary_data: Summaryish) -> ArchivedRun:
        """Gate a summary without archiving anything (a dry run), against today's champions."""
        return self.writer.assess(summary_data)

    # --- review (ReviewDesk answers) ---------------------------------------------------

    def pending_reviews(self, last: int | None = None) -> list[PendingReview]:
        """REVIEW models with no decision, newest run first, each with its reasons."""
        return self.review.pending_reviews(count("last", last))

    def get_deployable(self, at: str | datetime | None = None) -> dict[str, Champion]:
        """Every symbol's champion, keyed by symbol; ``at``: as it stood at that TIME."""
        return self.review.get_deployable(at)

    def decisions(
        self, symbol: str | None = None, *, timestamp: str | None = None
    ) -> list[Decision]:
        """The audit trail: every decision (on ``symbol``; on one run's models), oldest first."""
        symbol, timestamp = maybe_text("symbol", symbol), maybe_text("timestamp", timestamp)
        return self.review.decisions(symbol, timestamp=timestamp)

    def decide(
        self,
        timestamp: str,
        symbol: str,
        verdict: str,
        *,
        by: str,
        reason: str,
        force: bool = False,
        seen: int | None = None,
    ) -> Decision:
        """Approve or drop one model of one run; the decision is on disk when this returns
        (``ReviewDesk.decide`` says how, and what ``seen`` guards against)."""
        if not isinstance(force, bool):  # "false" is true: an override nobody meant
            raise DecisionError(f"force: {shown(force)} is not True or False")
        return self.review.decide(
            timestamp, symbol, verdict, by=by, reason=reason, force=force, seen=count("seen", seen)
        )
