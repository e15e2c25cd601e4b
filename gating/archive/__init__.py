"""The run archive: atomic run folders, an SQLite catalog, index.json and rejections.

Modules: ``layout`` (names and timestamps), ``durable`` (fsynced writes), ``faults``
(test crash points), ``lock`` (the writer lock), ``commit`` (plan, render, publish),
``catalog`` (every SQL statement; ``catalog_verdicts`` holds its decision, verdict and
champion statements), ``maintenance`` (recovery, rebuild, index.json), ``decisions``
(``decisions/``: durable decision files, deciding, the review queue, timestamp prefixes),
``rejections`` (``_rejected/``) and ``manager`` (the TrainingArchiveManager facade).
"""

from __future__ import annotations

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
