"""ArchiveWriter: everything that writes the archive, under its lock (commits, rejections,
recovery, maintenance)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gating.archive.aside import RebuildAside
from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.disk import DISK, Disk
from gating.archive.layout import Layout
from gating.archive.lock import FileLock
from gating.archive.storage import Summaryish
from gating.errors import ArchiveError, GatingError, source_text
from gating.thresholds import DEFAULT_MAX_BYTES, ModelGatingConfig

if TYPE_CHECKING:
    from gating.archive.commit import PreparedRun
    from gating.archive.group_commit import GroupCommitter
    from gating.archive.maintenance import Recovery
    from gating.archive.outbox import Outbox
    from gating.archive.recovery import DamageLog
    from gating.archive.reindexing import PendingReindex
    from gating.archive.rejections import RejectedFile
    from gating.archive.storage import GroupCommit
    from gating.progress import Progress
    from gating.run import ArchivedRun

# The write path (rendering, publishing, events) is imported when first used: a process
# that only queries the catalog (`gatewatch history`) never loads it.

__all__ = ["ArchiveWriter"]
_T = TypeVar("_T")


class ArchiveWriter:
    """Writes one archive: group commits, rejections, recovery, compaction and reindex.

    Every write holds the archive's writer lock. The options are fixed at construction:
    ``disk`` writes every file (tests give a faulty one), ``outbox`` receives every
    event a write causes (None keeps none), ``durable=False`` skips every fsync, and
    ``rebuilding(done, total)`` follows every rebuild of the catalog that no caller follows
    itself: recovery as the lock is taken, a query or a commit finding the catalog deleted
    or damaged, a reindex without ``progress`` (a service beats its heartbeat with it).
    With ``rebuild_wait``, a query that needs the catalog rebuilt has it done on a thread
    of its own and waits at most that long, then is ArchiveBusyError saying how far it is.
    """

    derived = True  # index.json and the catalog are derived from the run folders

    def __init__(
        self,
        layout: Layout,
        catalog: Catalog,
        config: ModelGatingConfig,
        *,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 30.0,
        cancelled: threading.Event | None = None,
        auto_compact: bool = True,
        durable: bool = True,
        disk: Disk = DISK,
        outbox: Outbox | None = None,
        rebuilding: Progress | None = None,
        rebuild_wait: float | None = None,
    ) -> None:
        self.layout = layout
        self.catalog = catalog
        self.config = config  # the service's reload replaces it
        self.max_file_bytes = max_file_bytes
        self.lock_timeout = lock_timeout
        self.cancelled = cancelled
        self.auto_compact = auto_compact
        self.durable = durable
        self.disk = disk
        self.outbox = outbox
        self.rebuilding = rebuilding
        # A query needing a rebuild waits this long for it on a thread of its own, then is
        # ArchiveBusyError (the dashboard); None rebuilds in the query's thread.
        self.rebuild_aside = None if rebuild_wait is None else RebuildAside(rebuild_wait)
        self._lock = FileLock(layout.lock)
        self._recovered = False  # recovery has begun (taking the lock again skips it)
        self._ready = False  # recovery has finished: the catalog matches the folders
        # The folder a query found (device, inode): another there (moved away, an unmounted
        # disk's empty mount point) is an error, where "no runs" told a deploy tool "none".
        self._root: tuple[int, int] | None = None
        self._damage_log: DamageLog | None = None
        self._committer: GroupCommitter | None = None

    @property
    def _damage(self) -> DamageLog:
        if self._damage_log is None:
            from gating.archive.recovery import DamageLog  # noqa: PLC0415 - see the imports

            self._damage_log = DamageLog()
        return self._damage_log

    @property
    def _group(self) -> GroupCommitter:
        if self._committer is None:
            from gating.archive.group_commit import GroupCommitter  # noqa: PLC0415

            self._committer = GroupCommitter(
                self.layout, self.catalog, self._damage, self.rebuilding
            )
        return self._committer

    def close(self, *, fold: bool = True) -> None:
        """Fold every run into index.json if it lacks some (unless ``fold=False``), then let
        go of the files (the catalog's connections, the lock file)."""
        try:
            if fold and self.layout.root.is_dir() and self._group.pending_for_index() > 0:
                self.compact()
        finally:
            self.catalog.close()
            self._lock.close()

    # --- the lock, recovery, and reading a ready catalog ------------------------------

    @contextlib.contextmanager
    def writer_lock(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> Iterator[Recovery | None]:
        """Hold the archive's exclusive writer lock (re-entrant within this object); yield
        what the recovery run under it found, if one ran.

        Waits at most ``lock_timeout`` seconds, or until ``cancelled`` is set, then raises
        ArchiveBusyError. The first time, recovery runs under it (``progress`` and
        ``cancelled`` follow and stop the rebuild of the catalog it may need).
        """
        self._lock.acquire(self.lock_timeout, self.cancelled)
        try:
            # Recovery runs once, and again when the catalog file was deleted or replaced
            # under an open connection (another process then rebuilds it, or this one does).
            found = None
            if self.catalog.refresh() or not self._recovered:
                found = self._recover(progress, cancelled)
            yield found
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def writing(
        self,
        what: str,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[Recovery | None]:
        """Hold the writer lock (see writer_lock); an OSError inside becomes one
        ArchiveError line."""
        with self._failing(what), self.writer_lock(progress, cancelled) as found:
            yield found

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """An OSError inside (not an ArchiveError, which is one already) becomes one
        ArchiveError line naming the archive and ``what`` could not be done."""
        try:
            yield
        except ArchiveError:
            raise
        except OSError as error:
            raise ArchiveError(f"{self.layout.root}: cannot {what}: {error}") from None

    def recover(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Clear what a crash left, and make the catalog match the run folders.

        Every writer does this once per process before its first write; the service at
        start. Returns how many runs were added to the catalog.
        """
        self._recovered = True  # so that taking the lock does not run it a first time
        with self.writing("recover"):
            return self._recover(progress, cancelled).added

    def _recover(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> Recovery:
        from gating.archive.recovery import recover  # noqa: PLC0415 - see the imports

        self._recovered = True
        try:
            found = recover(
                self.layout, self.catalog, self._damage, disk=self.disk, durable=self.durable,
                outbox=self.outbox, progress=progress or self.rebuilding, cancelled=cancelled,
            )  # fmt: skip
        except BaseException:  # cancelled, or the disk failed: the next lock use tries again,
            self._recovered = self._ready = False  # and a query checks the catalog first
            raise
        self._ready = True  # readers on other threads trust the catalog from now on
        return found

    def ensure(self, query: Callable[[], _T]) -> _T:
        """Run a catalog query; a catalog not yet built or damaged is rebuilt first."""
        try:  # not _recovered: it is set as recovery starts, and a rebuild takes minutes
            if self.catalog.refresh():  # the file was deleted or replaced: recover again
                self._recovered = self._ready = False
            if self._ready:
                self._root = self._root or self.layout.identity()
                return query()
            # Not the folder found before: never "no runs". What was found before is read
            # first: another thread may make the folder between the two looks (the folder
            # not made yet, then found by a reader: it was said to be gone).
            known = self._root
            found = self.layout.identity()
            if known is not None and found != known:
                raise ArchiveError(
                    f"{self.layout.root}: the archive folder is gone or is another one (moved, "
                    "deleted, or its disk not mounted)"
                )
            if found is None or self.catalog.stands_empty():
                return query()  # never made yet, or nothing archived in it: no runs
            self._root = found
            if self.catalog.is_built():
                return query()
        except CatalogDamagedError:
            self.catalog.close()
            self._recovered = self._ready = False
        if self.rebuild_aside is None:
            return self._rebuilt_for(query, None)
        self.rebuild_aside.run(lambda read: self._rebuilt_for(query, read), str(self.layout.root))
        return query()

    def _rebuilt_for(self, query: Callable[[], _T], progress: Progress | None) -> _T:
        """Take the lock (which recovers: damage is logged, the catalog rebuilt), then run
        the query. Damage in the rows themselves (a record edited by hand) passes
        recovery's checks: the query, run again under the lock, finds it, and the catalog
        is built anew."""
        with self.writing("rebuild the catalog", progress):
            try:
                return query()
            except CatalogDamagedError as error:
                self._damage.file(self.layout.catalog, error)
                self.catalog.destroy()
                self._recover(progress)
        return query()

    # --- runs -----------------------------------------------------------------------

    def prepare(
        self, summary_data: Summaryish, *, source: str | None = None, sha256: str | None = None
    ) -> PreparedRun:
        """Parse and gate a run without touching the disk (SummaryError if invalid)."""
        from gating.archive.commit import prepare_run  # noqa: PLC0415 - see the imports

        return prepare_run(
            summary_data, self.config, max_bytes=self.max_file_bytes, source=source, sha256=sha256
        )

    def commit_many(self, prepared: Sequence[PreparedRun]) -> list[ArchivedRun]:
        """Archive prepared runs as one group commit; results in the same order
        (``TrainingArchiveManager.commit_many`` says how)."""
        with self.writing("archive"):
            group: GroupCommit = self._group  # the seam a second backend implements
            try:
                return group.commit(
                    prepared, disk=self.disk, durable=self.durable, outbox=self.outbox,
                    fold=self.auto_compact,
                )  # fmt: skip
            except (OSError, GatingError):
                raise  # its runs are catalogued, or held for the next write
            except BaseException:
                # Ctrl-C (or a bug) between a rename and the catalog: a run in place that
                # no catalog lists. The next write recovers first, as a new process would
                # (it archived the same bytes again, as a second run).
                self._recovered = self._ready = False  # and readers check the catalog first
                raise

    def archive_many(self, summaries: Iterable[Summaryish]) -> list[ArchivedRun]:
        """archive_in_groups: prepared and committed GROUP_SIZE at a time."""
        from gating.archive.commit import archive_in_groups  # noqa: PLC0415 - see the imports

        return archive_in_groups(summaries, self.prepare, self.commit_many)

    def assess(self, summary_data: Summaryish) -> ArchivedRun:
        """Gate a summary as a commit now would, writing nothing (a dry run)."""
        from gating.archive.champions import assess_now  # noqa: PLC0415 - see the imports

        stamp = self._group.stamper.next(None)
        return assess_now(
            self.prepare(summary_data),
            stamp,
            lambda symbols: self.ensure(lambda: self.catalog.champions(symbols=symbols)),
        )

    # --- rejections and decisions found on disk ----------------------------------------

    def reject(
        self, raw: bytes | None, *, source: str, reason: str, sha256: str | None = None
    ) -> Path:
        """Keep a copy of a rejected file and why, in ``_rejected/``; return the reason file.

        Its ``file_rejected`` event goes to the outbox first: a crash before the rejection
        is recorded emits it again (same id) when the file is rejected again at restart.
        """
        from gating.archive.rejections import reject  # noqa: PLC0415 - see the imports
        from gating.events import file_rejected_event  # noqa: PLC0415

        source = source_text(source)  # as shared mode keeps it: \\udcXX for odd bytes
        if self.outbox is not None:  # cannot be written: not recorded (ArchiveError)
            self.outbox.emit_durably([file_rejected_event(source, reason, sha256)])
        with self.writing("record rejection"):
            stamp = self._group.stamp()
            return reject(
                self.layout, stamp, raw, source=source, reason=reason, sha256=sha256,
                disk=self.disk,
            )  # fmt: skip

    def rejected_keys(self) -> set[str]:
        """The sha256 of every file already rejected, and ``rejections.unread_key`` for
        each one rejected unread (so neither is retried unchanged)."""
        from gating.archive.rejections import rejected_keys  # noqa: PLC0415

        return rejected_keys(self.layout)

    def rejected(self, last: int | None = None) -> list[RejectedFile]:
        """The rejected files in ``_rejected/``, oldest first (the newest ``last``)."""
        from gating.archive.rejections import list_rejected  # noqa: PLC0415

        return list_rejected(self.layout.rejected, last)

    def rejected_count(self) -> int:
        """How many reason files ``_rejected/`` holds (none is read)."""
        from gating.archive.rejections import count_rejected  # noqa: PLC0415

        return count_rejected(self.layout.rejected)

    def index_decisions(self) -> int:
        """Index decision files the catalog lacks (a `decide` that crashed between its file
        and the catalog); their events go to the outbox. Returns how many."""
        from gating.archive.decisions import sync_decisions  # noqa: PLC0415 - see the imports

        with self.writing("index decisions"):
            return sync_decisions(self.layout, self.catalog, self.outbox)

    # --- maintenance -----------------------------------------------------------------

    def compact(self) -> int:
        """Write index.json from the catalog; return how many runs it lists."""
        with self.writing("compact"):
            from gating.archive.maintenance import write_index  # noqa: PLC0415 - see the imports

            return write_index(self.layout, self.catalog, self.disk, sync=self.durable)

    def reindex(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Rebuild the catalog from the run folders alone; return the runs.

        The run folders up to the catalog's newest run are read into a fresh file without
        the writer lock, so other writers go on archiving meanwhile (minutes at a million
        runs); under the lock the runs they added are read too and the file is copied over
        the catalog. If folders were removed or added by hand meanwhile, they are all read
        again under the lock. index.json is
        written anew too while that is cheap (up to WHOLE_INDEX_UP_TO runs); above, it
        takes longer than the rebuild and is left to compaction (``compact``, or the
        service's job). Damaged run folders are skipped and reported (``damaged_runs``).
        When ``cancelled()`` turns true the rebuild stops and leaves everything as it was
        (ReindexCancelledError). ``begin_reindex`` does it in two halves.
        """
        begun = self.begin_reindex(progress, cancelled)
        if isinstance(begun, int):
            return begun
        with begun:
            begun.fill()
            return begun.finish()

    def begin_reindex(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int | PendingReindex:
        """``reindex`` begun under the lock briefly: the runs, if taking the lock rebuilt
        the catalog just now; else a PendingReindex to ``fill`` (without the lock, on any
        one thread: the service reads beside its worker) and then ``finish``."""
        from gating.archive import maintenance  # noqa: PLC0415 - see the imports
        from gating.archive.rebuild import FreshCatalog  # noqa: PLC0415
        from gating.archive.reindexing import PendingReindex  # noqa: PLC0415

        progress = progress or self.rebuilding
        with self.writing("reindex", progress, cancelled) as recovered:
            maintenance.clear_litter(self.layout)
            if recovered is not None and recovered.rebuilt:
                # Taking the lock found the catalog missing or damaged and rebuilt it from
                # the run folders just now: a second rebuild would read them all again.
                return self._reindexed(recovered.added, [])
            upto = self.catalog.latest()  # writers add only later runs from now on
        with self._failing("reindex"):
            fresh = FreshCatalog(self.layout, self.catalog, upto)
        return PendingReindex(self, fresh, progress, cancelled)

    def _reindexed(self, count: int, damaged: list[tuple[str, str]]) -> int:
        """After a rebuild under the lock: report damaged folders, forget what waited for
        the catalog, write index.json if it is cheap; return the runs."""
        from gating.archive import maintenance  # noqa: PLC0415 - see the imports

        self._damage.runs(damaged)
        self._group.forget_pending()
        if count <= maintenance.WHOLE_INDEX_UP_TO:
            maintenance.write_index(self.layout, self.catalog, self.disk, sync=self.durable)
        return count
