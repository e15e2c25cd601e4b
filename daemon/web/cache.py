"""Answers read from the index, kept until the index changes (a new run, a compaction)."""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gating import TrainingArchiveManager

__all__ = ["IndexCache"]

Signature = tuple[tuple[int, int, int] | None, ...]


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class IndexCache:
    """Memoizes documents built from index.json and its journal (not decisions).

    The run list and the symbol histories are read from those two files only: a new run
    appends to the journal, compaction and reindex replace both, so their (inode, size,
    mtime) say whether a cached answer still holds. The few most recent answers are kept.
    """

    def __init__(self, manager: TrainingArchiveManager, size: int = 6) -> None:
        self.manager = manager
        self.size = size
        self._signature: Signature = ()
        self._entries: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def signature(self) -> Signature:
        """The state of the index files now."""
        return (_stat_key(self.manager.index_path), _stat_key(self.manager.journal_path))

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        """The cached answer for ``key``, built again when the index changed since."""
        signature = self.signature()
        with self._lock:
            if signature != self._signature:
                self._entries.clear()
                self._signature = signature
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = build()
        with self._lock:
            if signature == self._signature:
                self._entries[key] = value
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value
