"""The run archive: atomic run folders, an SQLite catalog, index.json and rejections.

Modules: ``layout`` (names and timestamps), ``durable`` (fsynced writes), ``faults``
(test crash points), ``lock`` (the writer lock), ``commit`` (plan, render, publish),
``writer`` (a group commit end to end: timestamps, champions, events, the catalog),
``champions`` (the champions a group is held against), ``catalog`` (every SQL
statement; ``catalog_verdicts`` holds its decision, verdict and champion statements),
``maintenance`` (rebuilding the catalog, index.json, litter), ``recovery`` (after a
crash or damage), ``decisions`` (``decisions/``: durable decision files, deciding, the
review queue, timestamp prefixes), ``rejections`` (``_rejected/``), ``outbox``
(notification events), ``regate`` (the what-if over stored summaries) and ``manager``
(the TrainingArchiveManager facade).

Names are loaded on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gating.lazy import lazy_names

if TYPE_CHECKING:
    from gating.archive.commit import GROUP_SIZE, PreparedRun
    from gating.archive.durable import append_durably, write_durably
    from gating.archive.faults import NO_FAULTS, Faults
    from gating.archive.layout import RUN_FILES
    from gating.archive.lock import FileLock
    from gating.archive.manager import TrainingArchiveManager

__all__ = [
    "GROUP_SIZE",
    "NO_FAULTS",
    "RUN_FILES",
    "Faults",
    "FileLock",
    "PreparedRun",
    "TrainingArchiveManager",
    "append_durably",
    "write_durably",
]

# Where each public name lives: a name is imported on first use, so a process that only
# queries the catalog never loads the gating, rendering and commit code.
_WHERE = {
    "Faults": "gating.archive.faults",
    "FileLock": "gating.archive.lock",
    "GROUP_SIZE": "gating.archive.commit",
    "NO_FAULTS": "gating.archive.faults",
    "PreparedRun": "gating.archive.commit",
    "RUN_FILES": "gating.archive.layout",
    "TrainingArchiveManager": "gating.archive.manager",
    "append_durably": "gating.archive.durable",
    "write_durably": "gating.archive.durable",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
