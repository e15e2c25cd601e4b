"""GroupCommitter: one group commit end to end (timestamps, champions, publishing, events).

Called under the writer lock. It keeps what must survive between commits in one process:
runs published that the catalog could not take yet, and the timestamps handed out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Sequence

from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.champions import GroupChampions, champion_entries
from gating.archive.commit import (
    PreparedRun,
    Rendered,
    duplicate_result,
    plan_group,
    publish,
    render,
)
from gating.archive.disk import Disk
from gating.archive.durable import read_regular
from gating.archive.layout import RUN_FILE_MAX, Layout, Stamper
from gating.archive.maintenance import WHOLE_INDEX_UP_TO, fold_index, index_state
from gating.archive.outbox import Outbox
from gating.archive.rebuild import rebuild_catalog
from gating.archive.recovery import DamageLog
from gating.errors import ArchiveError
from gating.events import events_of_runs
from gating.progress import Progress
from gating.run import ArchivedRun

__all__ = ["GroupCommitter"]

# index.json is folded from the catalog after a commit while that is cheap: the archive
# is tiny, or the runs it lacks are as many as those it lists (so each run is written about
# twice in all), and never for large archives (compaction does it there).
_FOLD_TINY = 16
_FOLD_SHARE = 1


class GroupCommitter:
    """Commits groups of prepared runs into one archive (under its writer lock)."""

    def __init__(
        self,
        layout: Layout,
        catalog: Catalog,
        damage: DamageLog,
        rebuilding: Progress | None = None,
    ) -> None:
        self.layout = layout
        self.catalog = catalog
        self.damage = damage
        self.rebuilding = rebuilding  # follows a rebuild of a catalog found damaged
        self.stamper = Stamper()
        self._uncataloged: list[Rendered] = []  # published, but the catalog could not take them
        self._unannounced: dict[str, ArchivedRun] = {}  # sha256 -> run not yet returned
        self._unfolded = 0  # runs this process committed since it last wrote index.json
        self._indexed: int | None = None  # runs index.json listed when last read, if read

    def stamp(self) -> str:
        """A timestamp after every run in the catalog and every one handed out before."""
        return self.stamper.next(self.catalog.latest())

    def forget_pending(self) -> None:
        """A rebuild from the run folders took in whatever was waiting for the catalog (and
        may have written index.json)."""
        self._uncataloged.clear()
        self._indexed = None

    def commit(
        self,
        prepared: Sequence[PreparedRun],
        *,
        disk: Disk,
        durable: bool,
        outbox: Outbox | None,
        fold: bool,
    ) -> list[ArchivedRun]:
        """Archive prepared runs as one group; results in the same order (see commit_many)."""
        self._catalog_pending()
        if outbox is not None:
            outbox.check_writable()  # else nothing is published: events never go missing
        plan = plan_group(prepared, self.catalog.owner_of)
        floor = self.catalog.latest()
        # Each run is held against the champions as they stand (the catalog is current
        # under the lock), its group's earlier runs included.
        champions = GroupChampions(lambda symbols: self.catalog.champions(symbols=symbols))
        group = []
        for item in plan.fresh:
            stamp = self.stamper.next(floor)
            group.append(render(champions.compare(item, stamp), stamp))
        published: list[Rendered] = []
        try:
            publish(self.layout, group, disk, published, sync=durable)
        except BaseException:
            with contextlib.suppress(ArchiveError):
                self._events_then_catalog(published, disk, outbox)
            raise
        # The events before the catalog: a crash in between leaves the run out of the
        # catalog, and recovery emits its events again (same ids).
        self._events_then_catalog(published, disk, outbox)
        disk.step("archive:cataloged")
        if fold:
            self._fold_if_cheap(disk, len(published))
        runs = [dataclasses.replace(r.run, path=self.layout.run(r.run.timestamp)) for r in group]
        results = []
        for item, step in zip(prepared, plan.steps, strict=True):
            if isinstance(step, str):
                # Answered from the catalog: the run it was archived as, not re-read.
                late = self._unannounced.pop(item.summary.sha256, None)
                if late is not None:  # archived before but never returned as such
                    results.append(dataclasses.replace(late, path=self.layout.run(step)))
                else:
                    results.append(self._duplicate_of(item, step))
            else:
                position, repeated = step
                run = runs[position]
                results.append(dataclasses.replace(run, duplicate=True) if repeated else run)
        return results

    def _duplicate_of(self, item: PreparedRun, timestamp: str) -> ArchivedRun:
        """The result for bytes archived before as run ``timestamp``, as its record says."""
        try:
            record = read_regular(self.layout.record(timestamp), RUN_FILE_MAX)
        except OSError:
            record = None
        return duplicate_result(item, timestamp, record, self.layout.run(timestamp))

    def _events_then_catalog(
        self, published: Sequence[Rendered], disk: Disk, outbox: Outbox | None
    ) -> None:
        """Write the published runs' events durably, then catalogue the runs. Events the
        outbox cannot write after all (the disk filled since its check) take their runs
        back out of place, unseen (no catalog lists them yet): nothing is archived, and a
        run is never archived without its events (ArchiveError)."""
        if outbox is not None and published:
            runs = [rendered.run for rendered in published]
            try:
                outbox.emit_durably(events_of_runs(runs, champion_entries(self.catalog)))
            except ArchiveError as error:
                _withdraw(self.layout, published)
                raise ArchiveError(
                    f"nothing archived: the events of {len(published)} run(s) could not be "
                    f"written ({error})"
                ) from None
        self._catalog_add(published, disk)

    def _catalog_add(self, published: Sequence[Rendered], disk: Disk) -> None:
        """Add published runs to the catalog; if it cannot take them, keep them for later.

        A run the catalog lacks is not announced: ArchiveError says so, and the next
        write (or the next start) adds it, after which it is returned as archived.
        """
        if not published:
            return
        try:
            disk.step("catalog:add")
            self.catalog.add_runs([rendered.entry for rendered in published])
        except CatalogDamagedError as error:
            self.damage.file(self.layout.catalog, error)
            self.catalog.destroy()
            rebuild_catalog(self.layout, self.catalog, self.rebuilding)  # with the new folders
        except (ArchiveError, OSError) as error:
            self._hold(published)
            raise ArchiveError(
                f"{len(published)} run(s) archived but not yet in the catalog, retrying: {error}"
            ) from None

    def _hold(self, published: Sequence[Rendered]) -> None:
        """Keep published runs out of the catalog, unannounced, for the next commit."""
        self._uncataloged.extend(published)
        for rendered in published:
            self._unannounced[rendered.run.sha256] = rendered.run

    def _catalog_pending(self) -> None:
        """Add the runs an earlier catalog write failed on (ArchiveError if it still fails)."""
        if self._uncataloged:
            pending, self._uncataloged = self._uncataloged, []
            try:
                self.catalog.add_runs([rendered.entry for rendered in pending])
            except ArchiveError:
                self._uncataloged = pending
                raise

    def pending_for_index(self) -> int:
        """How many runs of the catalog index.json does not list yet."""
        try:
            runs, _ = self.catalog.counts()
            state = index_state(self.catalog)
        except ArchiveError:  # damaged, or a full disk: closing folds nothing
            return 0
        return runs - (0 if state is None else state[0])

    def _fold_if_cheap(self, disk: Disk, added: int) -> None:
        """Write index.json again when that is cheap: a tiny archive, or once the runs it
        lacks (counted in this process, never by scanning the catalog) are as many as it
        lists; never above WHOLE_INDEX_UP_TO, where compaction alone does it.

        What index.json lists is read from the catalog again only when the count last
        read says a fold is due (another writer may have compacted since)."""
        self._unfolded += added
        if self._indexed is not None and not self._fold_due(self._indexed):
            return
        state = index_state(self.catalog)
        self._indexed = indexed = 0 if state is None else state[0]
        if indexed <= WHOLE_INDEX_UP_TO and self._fold_due(indexed):
            with contextlib.suppress(OSError):  # derived: compaction writes it later
                fold_index(self.layout, self.catalog, disk, sync=False)
                self._unfolded = 0
                self._indexed = None

    def _fold_due(self, indexed: int) -> bool:
        """Whether the runs index.json lacks make a fold cheap (see _fold_if_cheap)."""
        if indexed > WHOLE_INDEX_UP_TO:
            return False
        unfolded = self._unfolded
        return unfolded > 0 and (
            indexed + unfolded <= _FOLD_TINY or unfolded * _FOLD_SHARE >= indexed
        )


def _withdraw(layout: Layout, published: Sequence[Rendered]) -> None:
    """Take published runs back out of place, before any catalog lists them: each is
    renamed to its staging name and removed (what is left is litter recovery clears; one
    a power cut brings back is found by recovery, which writes its events first)."""
    for rendered in published:
        staging = layout.staging(rendered.run.timestamp)
        with contextlib.suppress(OSError):
            os.rename(layout.run(rendered.run.timestamp), staging)
            shutil.rmtree(staging, ignore_errors=True)
