"""Recovery: after a crash or damage, the catalog and index.json made to match the folders."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.champions import champion_entries
from gating.archive.decisions import sync_decisions
from gating.archive.disk import Disk
from gating.archive.layout import Layout
from gating.archive.log import LOG
from gating.archive.maintenance import (
    Damaged,
    Recovery,
    clear_litter,
    index_damaged,
    load_entry,
    read_run,
    scan_runs,
    write_index,
)
from gating.archive.outbox import Outbox
from gating.archive.rebuild import rebuild_catalog
from gating.errors import GatingError
from gating.events import events_of_runs
from gating.progress import Progress
from gating.run import ArchivedRun

__all__ = ["DamageLog", "recover"]

_QUIET_SECONDS = 1.0  # adding missing runs says how far it is only after this long


class DamageLog:
    """Logs damage to derived files (``index_damaged``: each file once per kind of damage
    and process, so a second, other damage in a long-running service is told too) and run
    folders (``run_damaged``: each once per process)."""

    def __init__(self) -> None:
        self._reported: set[str] = set()

    def file(self, path: Path, error: object) -> None:
        """A damaged derived file: the catalog or index.json."""
        key = f"{path}\n{error}"
        if key not in self._reported:
            self._reported.add(key)
            LOG.warning("index_damaged", extra={"file": str(path), "error": str(error)})

    def runs(self, damaged: Iterable[tuple[str, str]]) -> None:
        """Run folders that are not readable runs: (timestamp, reason)."""
        for timestamp, reason in damaged:
            if timestamp not in self._reported:
                self._reported.add(timestamp)
                LOG.warning("run_damaged", extra={"timestamp": timestamp, "reason": reason})


def recover(
    layout: Layout,
    catalog: Catalog,
    damage: DamageLog,
    *,
    disk: Disk,
    durable: bool,
    outbox: Outbox | None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Recovery:
    """Clear what a crash left and make the catalog and index.json match the run folders.

    A catalog that is missing, unreadable, of another schema or that lists another number
    of run folders is rebuilt; runs published after its last commit are added (and their
    events emitted again, same ids); a damaged index.json is written anew. ``progress``
    follows a rebuild (run folders read, of how many); ``cancelled()`` stops it
    (ReindexCancelledError).
    """
    report = Recovery()
    if not layout.root.is_dir():
        return report
    report.litter = clear_litter(layout, root=False)
    try:
        catalog.check()
        built = catalog.is_built()
        if built:
            report.added = _add_missing(layout, catalog, report, outbox, progress)
        else:
            report.litter += clear_litter(layout)
    except CatalogDamagedError as error:
        damage.file(layout.catalog, error)
        report.damage.append(str(layout.catalog))
        catalog.destroy()
        built = False
    if not built:
        report.added, report.damaged_runs = rebuild_catalog(layout, catalog, progress, cancelled)
        report.rebuilt = True
        if report.added and not report.damage:  # missing: deleted, or an older archive
            damage.file(layout.catalog, f"missing; rebuilt from {report.added} runs")
    damage.runs(report.damaged_runs)
    sync_decisions(layout, catalog, outbox)  # written, not indexed, at a crash
    if index_damaged(layout, catalog):
        report.damage.append(str(layout.index))
        try:
            write_index(layout, catalog, disk, sync=durable)
        except OSError as error:  # derived: runs are archived without it, compaction retries
            damage.file(layout.index, f"changed since it was written; cannot rewrite: {error}")
        else:
            damage.file(layout.index, "changed since it was written")
    return report


def _add_missing(
    layout: Layout,
    catalog: Catalog,
    report: Recovery,
    outbox: Outbox | None,
    progress: Progress | None = None,
) -> int:
    """Add run folders the catalog lacks (a crash or power cut after publishing), with
    ``progress(read, of)`` after each once a second has gone by (a few large runs take
    minutes to read: a service asks systemd for more time; a short recovery says nothing).

    The catalog takes runs in timestamp order, so what it lacks is newer than its newest
    run; if the folder count still differs, it is rebuilt (CatalogDamagedError).
    """
    scan = scan_runs(layout, catalog.latest())
    report.litter += scan.litter
    known = catalog.known(scan.newer)
    entries: list[dict[str, Any]] = []
    damaged: list[tuple[str, str | None, str]] = []
    missing = sorted(set(scan.newer) - known)
    began = time.monotonic()
    for done, name in enumerate(missing, 1):
        try:
            entries.append(load_entry(layout, name))
        except Damaged as bad:
            damaged.append((name, bad.sha256, bad.reason))
        if progress is not None and time.monotonic() - began >= _QUIET_SECONDS:
            progress(done, len(missing))
    if entries:
        if outbox is not None:  # a crash may have come before their events
            unsent: list[ArchivedRun] = []
            for entry in entries:
                with contextlib.suppress(GatingError):
                    unsent.append(read_run(layout, entry["timestamp"]))
            # Durable before the catalog takes the runs, or they would never be sent.
            outbox.emit_durably(events_of_runs(unsent, champion_entries(catalog)))
        catalog.add_runs(entries)
    if damaged:
        catalog.add_damaged(damaged)
        report.damaged_runs.extend((name, reason) for name, _, reason in damaged)
    runs, broken = catalog.counts()
    if runs + broken != scan.total:
        raise CatalogDamagedError(
            f"{layout.catalog}: lists {runs + broken} run folders, the archive has {scan.total}"
        )
    newest = catalog.latest()
    if newest is not None and not layout.run(newest).is_dir():  # another archive's catalog
        raise CatalogDamagedError(f"{layout.catalog}: its newest run {newest!r} is not here")
    return len(entries)
