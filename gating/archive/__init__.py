"""The run archive: atomic run folders, an SQLite catalog, index.json and rejections.

Modules: ``layout`` (names and timestamps), ``durable`` (fsynced writes), ``disk`` (the
one seam every file write goes through; tests give a faulty one), ``lock`` (the writer
lock), ``commit`` (plan, render, publish), ``group_commit`` (a group commit end to end:
timestamps, champions, events, the catalog), ``champions`` (the champions a group is held
against), ``catalog_failure`` (which SQLite errors are damage), ``catalog_file`` →
``catalog_verdicts`` → ``catalog`` (every SQL statement),
``maintenance`` (rebuilding the catalog, index.json, litter), ``recovery`` (after a crash
or damage), ``decisions`` (``decisions/``: durable decision files, deciding, the review
queue, timestamp prefixes), ``rejections`` (``_rejected/``), ``outbox`` (notification
events), ``log`` (the archive's logger), ``regate`` (the what-if over stored summaries),
and the three parts the ``manager`` (the TrainingArchiveManager facade) joins: ``reader``
(queries), ``writer`` (every write, under the lock) and ``review`` (decisions, the queue,
champions, audit).

Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gating.lazy import lazy_names

if TYPE_CHECKING:
    from gating.archive.commit import GROUP_SIZE, PreparedRun
    from gating.archive.disk import DISK, Disk
    from gating.archive.durable import append_durably, write_durably
    from gating.archive.layout import RUN_FILES
    from gating.archive.lock import FileLock
    from gating.archive.manager import TrainingArchiveManager

__all__ = [
    "DISK",
    "GROUP_SIZE",
    "RUN_FILES",
    "Disk",
    "FileLock",
    "PreparedRun",
    "TrainingArchiveManager",
    "append_durably",
    "write_durably",
]

# Where each public name lives: a name is imported on first use, so a process that only
# queries the catalog never loads the gating, rendering and commit code.
_WHERE = {
    "Disk": "gating.archive.disk",
    "FileLock": "gating.archive.lock",
    "GROUP_SIZE": "gating.archive.commit",
    "DISK": "gating.archive.disk",
    "PreparedRun": "gating.archive.commit",
    "RUN_FILES": "gating.archive.layout",
    "TrainingArchiveManager": "gating.archive.manager",
    "append_durably": "gating.archive.durable",
    "write_durably": "gating.archive.durable",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
