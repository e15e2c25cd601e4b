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
DECISIONS_DIR = "decisions"  # SPEC section 8: decisions are kept in the archive under it
# The files queries read: the index and its journal, or the SQLite catalog (and its WAL).
INDEX_FILES = ("index.json", "index.journal.jsonl", "catalog.sqlite3", "catalog.sqlite3-wal")


def _folder_key(folder: Path) -> tuple[int, int, int] | None:
    """How many files a folder tree holds, their total size and newest mtime."""
    count = size = newest = 0
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
                continue
            info = entry.stat(follow_symlinks=False)
            count, size = count + 1, size + info.st_size
            newest = max(newest, info.st_mtime_ns)
    return (count, size, newest) if count else None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class IndexCache:
    """Memoizes the run list and symbol histories until the index or a decision changes.

    They are read from index.json and its journal (or the SQLite catalog and its WAL),
    plus the decisions (a history record carries its verdict): a new run appends to the
    journal (or commits to the catalog), compaction and reindex replace the files, a
    decision adds to ``decisions/``; so the (inode, size, mtime) of those files and a
    summary of that folder say whether a cached answer still holds. The few most recent
    answers are kept.
    """

    def __init__(self, manager: TrainingArchiveManager, size: int = 6) -> None:
        self.manager = manager
        self.size = size
        self._signature: Signature = ()
        self._entries: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def signature(self) -> Signature:
        """The state of the index files now."""
        root = self.manager.archive_dir
        return (
            *(_stat_key(root / name) for name in INDEX_FILES),
            _folder_key(root / DECISIONS_DIR),
        )

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
