"""A reindex in two halves: the run folders read without the writer lock, then swapped in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gating.archive.rebuild import FreshCatalog, rebuild_catalog

if TYPE_CHECKING:
    from gating.archive.writer import ArchiveWriter
    from gating.progress import Progress

__all__ = ["PendingReindex"]


class PendingReindex:
    """A reindex begun (``ArchiveWriter.begin_reindex``): ``fill`` reads the run folders
    into a fresh catalog file without the writer lock, on any one thread; ``finish`` takes
    the lock, reads the runs archived meanwhile and swaps the file in; leaving the ``with``
    block (or ``close``) drops the file."""

    def __init__(
        self,
        writer: ArchiveWriter,
        fresh: FreshCatalog,
        progress: Progress | None,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        self._writer, self._fresh = writer, fresh
        self._progress, self._cancelled = progress, cancelled
        self._closed = False

    def __enter__(self) -> PendingReindex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fill(self) -> None:
        """Read the run folders up to the catalog's newest run as the reindex began
        (ReindexCancelledError once ``cancelled()``; ArchiveError if the file fails)."""
        with self._writer._failing("reindex"):
            self._fresh.fill(self._progress, self._cancelled)

    def finish(self) -> int:
        """Under the writer lock: add the runs archived since, swap the file in; the runs.
        Folders removed or added by hand meanwhile: every folder is read again under it."""
        writer, fresh = self._writer, self._fresh
        with writer.writing("reindex", self._progress, self._cancelled) as recovered:
            if recovered is not None and recovered.rebuilt:  # the catalog was lost
                return writer._reindexed(recovered.added, [])  # meanwhile: rebuilt
            if fresh.catch_up(writer.catalog):
                return writer._reindexed(*fresh.swap_in(writer.catalog))
        self.close()  # first: two fresh files at once would need twice the disk
        with writer.writing("reindex", self._progress, self._cancelled):
            rebuilt = rebuild_catalog(
                writer.layout, writer.catalog, self._progress, self._cancelled
            )
            return writer._reindexed(*rebuilt)

    def close(self) -> None:
        """Drop the fresh file (done, abandoned or cancelled); again does nothing."""
        if not self._closed:
            self._closed = True
            self._fresh.__exit__()
