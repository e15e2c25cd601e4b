"""Keeping derived data whole: recovery after a crash, rebuilding the catalog, index.json."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from gating.archive.catalog import Catalog
from gating.archive.catalog_rows import checked_entry
from gating.archive.disk import Disk
from gating.archive.durable import not_ours, read_regular, unreadable_now
from gating.archive.fresh_file import SIDECARS, being_built
from gating.archive.layout import (
    FRESH_PREFIX,
    RECORD_NAME,
    RUN_FILE_MAX,
    STAGING_PREFIX,
    Layout,
    is_timestamp,
)
from gating.errors import ArchiveError, GatingError, RunNotFoundError
from gating.index import FOOTER, HEADER, render_index
from gating.run import ArchivedRun, index_entry, run_from_record

__all__ = [
    "WHOLE_INDEX_UP_TO",
    "Damaged",
    "Recovery",
    "RunScan",
    "clear_litter",
    "fold_index",
    "load_entry",
    "read_run",
    "scan_runs",
    "write_index",
]


_INDEX_RUNS = "index_json_runs"  # meta: how many runs index.json held when written
_INDEX_SIZE = "index_json_size"  # meta: its size then (another size means damage)
_INDEX_LAST = "index_json_last"  # meta: the newest run it lists, when written or folded
# Up to this many runs index.json is written by the commits that fold it and by reindex;
# above, writing it takes longer than either is worth, and compaction alone does it.
WHOLE_INDEX_UP_TO = 100_000
_COPY_CHUNK = 1 << 20  # bytes of the old index.json copied at a time by a fold


class Damaged(GatingError, ValueError):
    """A run folder whose record cannot be read: why, and its summary's sha256 if known."""

    def __init__(self, reason: str, sha256: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sha256 = sha256


@dataclass
class Recovery:
    """What a recovery found and did."""

    litter: int = 0
    added: int = 0
    rebuilt: bool = False
    damage: list[str] = field(default_factory=list)  # derived files found damaged
    damaged_runs: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, reason)


_TEMP_ENDINGS = (".tmp", *(f".tmp{suffix}" for suffix in SIDECARS))  # and SQLite's beside one


def _is_litter(name: str, in_root: bool) -> bool:
    """A temp file of an interrupted durable write, or (in the archive folder) a staging one."""
    return name.startswith(".") and (
        name.endswith(_TEMP_ENDINGS) or (in_root and name.startswith(STAGING_PREFIX))
    )


def _is_folder(path: str) -> bool:
    """Whether ``path`` is a folder itself (not a symlink to one, nor anything else)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove(path: str, name: str) -> bool:
    if name.startswith(FRESH_PREFIX) and being_built(path):
        return False
    if name.startswith(STAGING_PREFIX) and _is_folder(path):
        shutil.rmtree(path, ignore_errors=True)
        return True
    try:  # a file, a symlink or a FIFO (rmtree opens what it is given: a FIFO blocked it)
        os.unlink(path)
    except OSError:
        return False
    return True


def clear_litter(layout: Layout, *, root: bool = True) -> int:
    """Remove staging folders and temp files that an interrupted write left behind.

    ``root=False`` leaves the archive folder itself to ``scan_runs``, which streams it
    once for everything recovery needs.
    """
    removed = 0
    folders = (layout.root, layout.rejected, layout.decisions) if root else (
        layout.rejected, layout.decisions)  # fmt: skip
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                litter = [
                    (e.path, e.name) for e in entries if _is_litter(e.name, folder == layout.root)
                ]
        except (FileNotFoundError, NotADirectoryError):  # a file in its place holds none
            continue
        removed += sum(_remove(path, name) for path, name in litter)
    return removed


@dataclass
class RunScan:
    """One pass over the archive folder: run folders counted, the newest kept, litter gone."""

    total: int = 0
    newer: list[str] = field(default_factory=list)
    litter: int = 0


def scan_runs(layout: Layout, after: str | None) -> RunScan:
    """Count the run folders, keep the names after ``after``, remove the litter; streamed,
    so a million run folders are never listed in memory."""
    found = RunScan()
    litter: list[tuple[str, str]] = []
    for entry in layout.entries():
        name = entry.name
        if is_timestamp(name):
            found.total += 1
            if after is None or name > after:
                found.newer.append(name)
        elif _is_litter(name, True):
            litter.append((entry.path, name))
    found.litter = sum(_remove(path, name) for path, name in litter)
    return found


def _summary_sha256(layout: Layout, timestamp: str) -> str | None:
    try:
        data = read_regular(layout.run(timestamp) / "summary.json", RUN_FILE_MAX)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()


def load_entry(layout: Layout, timestamp: str) -> dict[str, Any]:
    """A run folder's index entry, from its record (Damaged if the folder is not a run: its
    record missing, not a regular file, not JSON, nested too deep, of another shape;
    ArchiveError if it cannot be read now)."""
    try:
        data = read_regular(layout.record(timestamp), RUN_FILE_MAX)
    except OSError as error:
        if not not_ours(error):  # no permission, no file handles: the reader's, not damage
            raise unreadable_now(layout.record(timestamp), error) from None
        reason = f"{RECORD_NAME}: {error.strerror or error}"
        raise Damaged(reason, _summary_sha256(layout, timestamp)) from None
    try:
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError:
            record = json.loads(data)  # Infinity, which orjson does not read
        entry = checked_entry(index_entry(record))
        if entry["timestamp"] != timestamp:
            raise ValueError(f"its record names run {entry['timestamp']!r}")
        if not isinstance(entry["sha256"], str) or not entry["models"]:
            raise ValueError("no summary hash or no models")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise Damaged(
            f"model_assessments.json: {error}", _summary_sha256(layout, timestamp)
        ) from None
    return entry


def index_state(catalog: Catalog) -> tuple[int, int] | None:
    """(runs, size) of index.json as last written from this catalog, if ever."""
    runs, size = catalog.meta(_INDEX_RUNS), catalog.meta(_INDEX_SIZE)
    if runs is None or size is None or not (runs.isdigit() and size.isdigit()):
        return None  # never written, or not by us: index.json is written anew
    return int(runs), int(size)


def index_damaged(layout: Layout, catalog: Catalog) -> bool:
    """Whether index.json is not the file that was last written (changed or cut short)."""
    state = index_state(catalog)
    size = _index_size(layout)
    if size is None:
        return state is not None and state[0] > 0
    return state is not None and state[1] != size


def _index_size(layout: Layout) -> int | None:
    """index.json's size; None when there is none, -1 when it is not a regular file (a
    symlink, even a loop, or a FIFO: never followed nor opened, it is written anew)."""
    try:
        info = os.lstat(layout.index)
    except FileNotFoundError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else -1


def write_index(layout: Layout, catalog: Catalog, disk: Disk, *, sync: bool = True) -> int:
    """Write index.json from the catalog, streamed; return how many runs it lists."""
    count, newest = 0, None

    def counted() -> Iterator[bytes]:
        nonlocal count, newest
        for timestamp, line in catalog.index_lines_after(None):
            count, newest = count + 1, timestamp
            yield line

    index = layout.index
    if index.is_dir() and not index.is_symlink():  # in the way, and not ours: kept aside
        index.rename(index.with_name(f"{index.name}.moved-aside-{time.time_ns()}"))
    disk.write(index, render_index(counted()), sync=sync)
    disk.step("compact:index_written")
    _written(layout, catalog, count, newest)
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):  # a folder: not ours
        layout.legacy_journal.unlink()  # folded in: archives from before the catalog
    return count


def _written(layout: Layout, catalog: Catalog, runs: int, last: str | None) -> None:
    """Remember what index.json now holds: how many runs, its size, its newest run."""
    size = layout.index.stat().st_size
    catalog.set_meta({_INDEX_RUNS: str(runs), _INDEX_SIZE: str(size), _INDEX_LAST: last or ""})


def fold_index(layout: Layout, catalog: Catalog, disk: Disk, *, sync: bool = True) -> int:
    """Bring index.json up to date cheaply: its bytes as they are, then the lines of the runs
    after the newest it lists, written to a temp file and renamed like any write (never a
    torn file); return how many runs it lists. When it is not the file last written (or
    was written before its newest run was remembered), it is written whole instead."""
    state, last = index_state(catalog), catalog.meta(_INDEX_LAST)
    size = _index_size(layout)
    size = -1 if size is None else size
    if state is None or last is None or state[1] != size or size < len(HEADER + FOOTER):
        return write_index(layout, catalog, disk, sync=sync)
    count, newest = state[0], last or None

    def pieces() -> Iterator[bytes]:
        nonlocal count, newest
        with layout.index.open("rb") as old:
            left = size - len(FOOTER)
            while left > 0:
                chunk = old.read(min(left, _COPY_CHUNK))
                if not chunk:
                    raise ArchiveError(f"{layout.index}: shorter than it was written")
                left -= len(chunk)
                yield chunk
            if old.read() != FOOTER:
                raise ArchiveError(f"{layout.index}: not the file last written")
        for timestamp, line in catalog.index_lines_after(newest):
            yield line if count == 0 else b",\n" + line
            count += 1
            newest = timestamp
        yield FOOTER

    try:
        disk.write(layout.index, pieces(), sync=sync)
    except ArchiveError:
        return write_index(layout, catalog, disk, sync=sync)
    disk.step("compact:index_written")
    _written(layout, catalog, count, newest)
    return count


def read_run(layout: Layout, timestamp: str) -> ArchivedRun:
    """The full gating result of one archived run, read from its folder."""
    if not is_timestamp(timestamp):
        raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}")
    folder = layout.run(timestamp)
    try:
        record = json.loads(read_regular(layout.record(timestamp), RUN_FILE_MAX))
    except FileNotFoundError:
        raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}") from None
    except (OSError, ValueError, RecursionError) as error:
        raise ArchiveError(f"{folder}: unreadable run record: {error}") from None
    try:
        checked_entry(index_entry(record))  # the fields' types, as a rebuild checks them
        return run_from_record(record, folder)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        # Edited by hand into another shape: one line (the dashboard's page was a 500).
        raise ArchiveError(f"{folder}: unreadable run record: {error!r}") from None
