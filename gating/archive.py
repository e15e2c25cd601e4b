"""The run archive on disk: atomic run folders, the master index and its journal."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import fnmatch
import heapq
import json
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from gating.errors import (
    ArchiveBusyError,
    ArchiveError,
    GatingError,
    ReindexCancelledError,
    RunNotFoundError,
    SummaryError,
)
from gating.events import events_of_runs, run_events
from gating.index import (
    entry_line,
    index_run_lines,
    line_keys,
    line_model_json,
    line_timestamp,
    parse_journal,
    render_index,
    symbol_key,
)
from gating.report import render_recommendations
from gating.rules import Classification, ModelGatingConfig
from gating.run import ArchivedRun, gate_summary, index_entry, run_from_record
from gating.summary import DEFAULT_MAX_BYTES, Summary, parse_summary

if TYPE_CHECKING:
    from gating.outbox import Outbox  # notify (issue 14)

__all__ = [
    "GROUP_SIZE",
    "INDEX_NAME",
    "JOURNAL_NAME",
    "REJECTED_DIR",
    "PreparedRun",
    "TrainingArchiveManager",
    "append_durably",
    "write_durably",
]

INDEX_NAME = "index.json"
JOURNAL_NAME = "index.journal.jsonl"
REJECTED_DIR = "_rejected"
LOCK_NAME = ".lock"
RUN_FILES = ("summary.json", "model_assessments.json", "recommendations.md")
GROUP_SIZE = 50  # runs committed together by archive_training_runs and the service
_STAGING_PREFIX = ".staging-"
_TIMESTAMP = re.compile(r"^\d{8}T\d{12}Z$")
_TS_FORMAT = "%Y%m%dT%H%M%S%fZ"

Progress = Callable[[int, int], None]


# --- test hooks --------------------------------------------------------------------------
# GATEWATCH_CRASH_AT=<glob> ends the process (exit 86) at the first matching point and
# GATEWATCH_FAIL_AT=<glob> raises ENOSPC there; the reliability tests use them to stop an
# archive operation between any write, fsync and rename.


_failures: dict[str, int] = {}


def _hook(point: str) -> None:
    crash = os.environ.get("GATEWATCH_CRASH_AT")
    if crash and fnmatch.fnmatchcase(point, crash):
        os._exit(86)
    fail = os.environ.get("GATEWATCH_FAIL_AT")
    if fail and fnmatch.fnmatchcase(point, fail):
        # GATEWATCH_FAIL_TIMES=N: fail only the first N times (a disk that recovers).
        times = os.environ.get("GATEWATCH_FAIL_TIMES")
        if times is None or _failures.setdefault(fail, 0) < int(times):
            _failures[fail] = _failures.get(fail, 0) + 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), point)


# --- durable file primitives ------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs_function() -> Callable[[int], int] | None:
    try:
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None  # not Linux: a group is fsynced file by file
    return function


_SYNCFS = _syncfs_function()


def _sync_filesystem(folder_fd: int) -> None:
    """Flush every file of the filesystem holding an open folder with one syncfs(2).

    Since Linux 5.8 syncfs reports any write-back error on that filesystem since the
    folder was opened, so a run whose bytes did not reach the disk is never published.
    """
    if _SYNCFS is None:
        raise OSError(errno.ENOSYS, "syncfs is not available")
    if _SYNCFS(folder_fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def write_durably(
    path: Path, data: bytes | Iterable[bytes], *, staged: bool = False, sync: bool = True
) -> None:
    """Write a whole file crash-safely: temp file in the same folder, fsync, rename, fsync.

    ``data`` may be an iterable of chunks (a large index is streamed, never held whole).
    ``staged=True`` is for files inside a run's staging folder: that folder is itself the
    temp (it is renamed into place as a whole), so the file is written under its own name
    and the caller fsyncs the folder once for all its files. ``sync=False`` (staged files
    only) also leaves the file's flush to the caller, who flushes a whole group of staging
    folders with one syncfs before renaming any of them.
    """
    temp = path if staged else path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            for chunk in [data] if isinstance(data, bytes) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            _hook(f"write:{path.name}:written")
            if sync or not staged:
                os.fsync(fd)
                _hook(f"write:{path.name}:synced")
        finally:
            os.close(fd)
        if not staged:
            os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if not staged:
        _hook(f"write:{path.name}:renamed")
        _fsync_dir(path.parent)


def append_durably(path: Path, line: bytes, *, sync: bool = True) -> tuple[int, int, int]:
    """Append newline-terminated records to a journal and (unless ``sync=False``) fsync it.

    A torn last line left by a crash is closed off first so the new record starts clean.
    Returns (inode, size before, size after).
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        info = os.fstat(fd)
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        _hook(f"append:{path.name}:written")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if info.st_size == 0:
        _fsync_dir(path.parent)  # the journal may be new: make its name durable too
    return info.st_ino, info.st_size, info.st_size + len(line)


# --- helpers ------------------------------------------------------------------------------


def _finite_numbers(record: dict[str, Any]) -> bool:
    """Whether the record's summary-given floats (reward scale, metric values, fitness
    histories) are all finite: their sum is, unless one is infinite or NaN, or the sum
    overflows (then the record is simply written the slow way)."""
    total = record["reward_scale"] or 0.0
    for model in record["models"]:
        total += sum(filter(None, model["fitness_history"]))
        total += sum(filter(None, [check["value"] for check in model["metrics"].values()]))
    return math.isfinite(total)


def _render_record(record: dict[str, Any]) -> bytes:
    """model_assessments.json: the run's fields, then one model per line.

    orjson writes it. A record orjson cannot write faithfully (it turns Infinity into
    null, and refuses integers beyond 64 bits) is written by the standard encoder, with
    Python's JSON ``Infinity``.
    """
    head = {key: value for key, value in record.items() if key != "models"}
    if _finite_numbers(record):
        try:
            models = b",\n".join(orjson.dumps(model) for model in record["models"])
            return orjson.dumps(head)[:-1] + b',"models":[\n' + models + b"\n]}\n"
        except orjson.JSONEncodeError:
            pass
    text = ",\n".join(json.dumps(model, ensure_ascii=False) for model in record["models"])
    return (json.dumps(head, ensure_ascii=False)[:-1] + f', "models": [\n{text}\n]}}\n').encode()


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """A gated run with the bytes of its three files, ready to be committed."""

    summary: Summary
    run: ArchivedRun
    files: Mapping[str, bytes]
    entry: dict[str, Any]


def _prepare(
    summary: Summary, config: ModelGatingConfig, timestamp: str, source: str | None
) -> PreparedRun:
    if source is not None:
        # A file name's undecodable bytes come as lone surrogates: written as \udcXX.
        source = source.encode("utf-8", "backslashreplace").decode("utf-8")
    run = gate_summary(summary, config, timestamp, source)
    record = run.to_record()
    files = {
        "summary.json": summary.raw,
        "model_assessments.json": _render_record(record),
        "recommendations.md": render_recommendations(run).encode("utf-8"),
    }
    return PreparedRun(summary, run, files, index_entry(record))


def _ts_micros(timestamp: str) -> int:
    """Microseconds since the epoch of a YYYYMMDDTHHMMSSffffffZ timestamp."""
    t = timestamp
    moment = datetime(
        int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]), int(t[13:15]), tzinfo=UTC
    )
    return int(moment.timestamp()) * 1_000_000 + int(t[15:21])


def _ts_from_micros(micros: int) -> str:
    seconds, micro = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro).strftime(_TS_FORMAT)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return cleaned[:100] or "file"


class _Index:
    """What a writer must know of the index: which runs and which bytes it holds.

    Only (timestamp, sha256) pairs are kept, so memory stays small for a large archive;
    queries stream the index files instead.
    """

    def __init__(self) -> None:
        self.timestamps: set[str] = set()
        self.by_sha: dict[str, str] = {}
        self.index_key: tuple[int, int, int] | None = None
        self.journal_key: tuple[int, int] | None = None
        self.journal_offset = 0
        self.last_timestamp: str | None = None

    def add(self, timestamp: str, sha256: str) -> None:
        self.timestamps.add(timestamp)
        self.by_sha.setdefault(sha256, timestamp)
        if self.last_timestamp is None or timestamp > self.last_timestamp:
            self.last_timestamp = timestamp


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class TrainingArchiveManager:
    """Gates run summaries and keeps them in an archive folder with a master index."""

    def __init__(
        self,
        archive_dir: str | os.PathLike[str] = "training_archives",
        config: ModelGatingConfig | None = None,
        *,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 30.0,
        sync_journal: bool = False,
    ) -> None:
        """Open (lazily create) the archive at ``archive_dir``.

        A run is durable when ``archive_training_run`` returns: its files, its folder and
        the rename that publishes it are fsynced. The journal line that indexes it is only
        fsynced with ``sync_journal=True``: the index is derived data, and a line lost to a
        power cut is restored from the run folder by the next writer (see ``recover``).
        """
        self.archive_dir = Path(archive_dir)
        self.config = config or ModelGatingConfig()
        self.max_file_bytes = max_file_bytes
        self.lock_timeout = lock_timeout
        self.sync_journal = sync_journal
        self._index = _Index()
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._lock_fd: int | None = None
        self._recovered = False
        self._unjournaled: list[dict[str, Any]] = []
        self._last_issued = 0  # microseconds of the last timestamp handed out
        # notify (issue 14): where each commit writes its runs' events; None writes none.
        self.outbox: Outbox | None = None

    # --- paths -----------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """The master index file."""
        return self.archive_dir / INDEX_NAME

    @property
    def journal_path(self) -> Path:
        """The append journal folded into the index by compaction."""
        return self.archive_dir / JOURNAL_NAME

    @property
    def rejected_dir(self) -> Path:
        """Where rejected files and their reasons are kept."""
        return self.archive_dir / REJECTED_DIR

    # --- locking ---------------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the archive's exclusive writer lock (re-entrant within this object).

        Waits at most ``lock_timeout`` seconds (read while waiting, so lowering it cuts a
        wait short), then raises ArchiveBusyError.
        """
        if not self._thread_lock.acquire(timeout=self.lock_timeout):
            raise ArchiveBusyError(f"{self.archive_dir}: busy in another thread of this process")
        try:
            if self._lock_depth == 0:
                self._acquire_file_lock()
            self._lock_depth += 1
            try:
                if not self._recovered:
                    self._recover()
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Hold the writer lock; an OSError inside becomes one ArchiveError line."""
        try:
            with self.writer_lock():
                yield
        except ArchiveError:
            raise
        except OSError as error:
            raise ArchiveError(f"{self.archive_dir}: cannot {what}: {error}") from None

    def _acquire_file_lock(self) -> None:
        if self._lock_fd is None:
            # Opened once and kept: each operation only flocks and unlocks it.
            try:
                self.archive_dir.mkdir(parents=True, exist_ok=True)
                path = self.archive_dir / LOCK_NAME
                self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as error:
                raise ArchiveError(
                    f"{self.archive_dir}: cannot open the archive: {error}"
                ) from None
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() - started >= self.lock_timeout:
                    raise ArchiveBusyError(
                        f"{self.archive_dir}: another writer held the lock for "
                        f"{self.lock_timeout:g} s"
                    ) from None
                time.sleep(0.005)

    # --- reading the index -------------------------------------------------------------

    def _refresh(self) -> _Index:
        """Bring the in-memory index up to date with index.json and the journal."""
        index_key = _stat_key(self.index_path)
        journal_stat = _stat_key(self.journal_path)
        journal_key = None if journal_stat is None else journal_stat[:2]
        idx = self._index
        if index_key == idx.index_key:
            if journal_key is None and idx.journal_key is None:
                return idx
            if (
                journal_key is not None
                and idx.journal_key is not None
                and journal_key[0] == idx.journal_key[0]
                and journal_key[1] >= idx.journal_offset
            ):
                if journal_key[1] > idx.journal_offset:
                    self._read_journal(idx, idx.journal_offset)
                return idx
        # Something was replaced: reload. The journal is read before the index so that a
        # compaction in between can only show a run twice (the same key), never miss one.
        fresh = _Index()
        self._read_journal(fresh, 0)
        fresh.index_key = index_key
        with self._index_errors():
            for line in self._index_lines():
                keys = line_keys(line)
                if keys is not None:
                    fresh.add(*keys)
        for entry in self._unjournaled:
            fresh.add(entry["timestamp"], entry["sha256"])
        self._index = fresh
        return fresh

    @contextlib.contextmanager
    def _index_errors(self) -> Iterator[None]:
        try:
            yield
        except (ValueError, KeyError, TypeError) as error:
            raise ArchiveError(
                f"{self.index_path}: unreadable index ({error}); run gatewatch reindex"
            ) from None

    def _index_lines(self) -> Iterator[bytes]:
        """The run lines of index.json, streamed (none if there is no index yet)."""
        try:
            handle = self.index_path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from index_run_lines(handle)

    def _journal_lines(self, offset: int = 0) -> tuple[list[tuple[str, str, bytes]], int, int]:
        """Complete journal lines from ``offset``: (records, bytes consumed, inode)."""
        try:
            with self.journal_path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
                inode = os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return [], 0, 0
        records, consumed = parse_journal(data)
        return records, consumed, inode

    def _read_journal(self, idx: _Index, offset: int) -> None:
        records, consumed, inode = self._journal_lines(offset)
        if not inode:
            idx.journal_key, idx.journal_offset = None, 0
            return
        for timestamp, sha256, _ in records:
            idx.add(timestamp, sha256)
        idx.journal_offset = offset + consumed
        idx.journal_key = (inode, idx.journal_offset)

    def _merged(self) -> Iterator[bytes]:
        """Every run line, oldest first: index.json merged with the journal.

        The journal is read first, so that a compaction in between can only show a run
        in both (the journal's copy wins), never in neither. index.json is streamed.
        """
        journal = sorted({ts: line for ts, _, line in self._journal_lines()[0]}.items())
        with self._index_errors():
            if not journal:
                yield from self._index_lines()
                return
            in_journal = {ts for ts, _ in journal}
            indexed = (
                (ts, line)
                for line in self._index_lines()
                if (ts := line_timestamp(line)) is not None and ts not in in_journal
            )
            for _, line in heapq.merge(indexed, journal):
                yield line

    # --- recovery --------------------------------------------------------------------

    def _timestamp_folders(self) -> list[str]:
        """The names of the published run folders, in no particular order."""
        try:
            names = os.listdir(self.archive_dir)
        except FileNotFoundError:
            return []
        return [name for name in names if _TIMESTAMP.match(name)]

    def _run_folders(self) -> list[str]:
        return sorted(self._timestamp_folders())

    def _latest_folder(self) -> str | None:
        return max(self._timestamp_folders(), default=None)

    def _load_entry(self, timestamp: str) -> dict[str, Any] | None:
        folder = self.archive_dir / timestamp
        try:
            record = json.loads((folder / "model_assessments.json").read_bytes())
            return index_entry(record)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def recover(self) -> int:
        """Drop staging folders left by a crash and index run folders the journal lacks.

        Every writer does this once per process before its first write; a service calls it
        at start. Returns how many runs were added to the index.
        """
        self._recovered = True  # so that taking the lock does not run it a first time
        with self._writing("recover"):
            return self._recover()

    def _recover(self) -> int:
        self._recovered = True
        try:
            names = os.listdir(self.archive_dir)
        except FileNotFoundError:
            return 0
        for name in names:
            if name.startswith(_STAGING_PREFIX):
                shutil.rmtree(self.archive_dir / name, ignore_errors=True)
        return self._reconcile()

    def _reconcile(self) -> int:
        idx = self._refresh()
        missing = [ts for ts in self._run_folders() if ts not in idx.timestamps]
        for timestamp in missing:
            entry = self._load_entry(timestamp)
            if entry is not None:
                self._emit_run_events(timestamp)  # notify (issue 14): a crash may have lost them
                self._journal(entry)
        return len(missing)

    def _emit_run_events(self, timestamp: str) -> None:
        """notify (issue 14): write a published run's events to the outbox again (same ids)."""
        if self.outbox is not None:
            with contextlib.suppress(GatingError):
                self.outbox.emit(run_events(self.get_run(timestamp)))

    def _journal(self, *entries: dict[str, Any]) -> None:
        """Record published runs in the journal; on failure they wait for the next write."""
        for entry in entries:
            self._index.add(entry["timestamp"], entry["sha256"])
            self._unjournaled.append(entry)
        if not self._unjournaled:
            return
        pending = b"".join(entry_line(e) + b"\n" for e in self._unjournaled)
        inode, before, after = append_durably(self.journal_path, pending, sync=self.sync_journal)
        self._unjournaled.clear()
        idx = self._index
        if idx.journal_key is not None and (inode, before) == (
            idx.journal_key[0],
            idx.journal_offset,
        ):
            # Only our own lines were added: no need to read them back.
            idx.journal_offset = after
            idx.journal_key = (inode, after)
        else:
            self._refresh()

    # --- writing ---------------------------------------------------------------------

    def _next_timestamp(self) -> str:
        """A timestamp after every run this object knows of and every stamp it handed out
        (runs and rejections alike), so they strictly increase."""
        with self._thread_lock:
            micros = time.time_ns() // 1000
            last = self._index.last_timestamp
            if last is not None:
                micros = max(micros, _ts_micros(last) + 1)
            self._last_issued = max(micros, self._last_issued + 1)
            return _ts_from_micros(self._last_issued)

    def _reserve_timestamp(self) -> str:
        """A timestamp for a run about to be prepared, after every run on disk."""
        with self._thread_lock:
            self._refresh()
            return self._next_timestamp()

    def prepare(
        self,
        summary_data: Mapping[str, Any] | bytes | bytearray | str,
        *,
        source: str | None = None,
    ) -> PreparedRun:
        """Parse, gate and render a run without touching the disk (SummaryError if invalid).

        ``commit`` writes it; ``commit_many`` writes several prepared runs as one group.
        ``archive_training_run`` does both in turn.
        """
        summary = parse_summary(summary_data, max_bytes=self.max_file_bytes)
        return _prepare(summary, self.config, self._reserve_timestamp(), source)

    def commit(self, prepared: PreparedRun) -> ArchivedRun:
        """Archive a prepared run (once per sha256); ArchiveError if it cannot be written."""
        return self.commit_many([prepared])[0]

    def commit_many(self, prepared: Sequence[PreparedRun]) -> list[ArchivedRun]:
        """Archive prepared runs as one group commit; results in the same order.

        All the group's files are flushed with one syncfs before the first run is renamed
        into place, and the archive folder is fsynced once after the last: every run is
        durable when this returns. A summary already archived, or twice in the group, comes
        back with ``duplicate=True``. ArchiveError if the group cannot be written; runs
        renamed before the failure stay archived and indexed (a retry finds them).
        """
        with self._writing("archive"):
            idx = self._refresh()
            self._journal()  # whatever an earlier failed append left pending
            fresh: list[PreparedRun] = []
            in_group: dict[str, int] = {}  # sha256 -> position in fresh
            # Per input: the timestamp it was archived under before, or (position in
            # fresh, whether it repeats an earlier summary of this group).
            plan: list[str | tuple[int, bool]] = []
            floor = idx.last_timestamp
            for item in prepared:
                sha256 = item.summary.sha256
                if (existing := idx.by_sha.get(sha256)) is not None:
                    plan.append(existing)
                elif sha256 in in_group:
                    plan.append((in_group[sha256], True))
                else:
                    if floor is not None and item.run.timestamp <= floor:
                        # Another writer archived in between: a later timestamp, render again.
                        stamp = self._next_timestamp()
                        item = _prepare(item.summary, item.run.config, stamp, item.run.source)  # noqa: PLW2901
                    floor = item.run.timestamp
                    in_group[sha256] = len(fresh)
                    plan.append((len(fresh), False))
                    fresh.append(item)
            runs = [
                dataclasses.replace(item.run, path=path)
                for item, path in zip(fresh, self._publish(fresh), strict=True)
            ]
            # notify (issue 14): the runs' events, durably, after the renames and before the
            # journal line (a crash in between: recover() finds the run unindexed and emits
            # them again, same ids). emit() never raises: a failed write is retried later.
            if self.outbox is not None and runs:
                self.outbox.emit(events_of_runs(runs))
            # The renames committed the runs; the index is derived data. If the journal
            # cannot be written now, the entries stay pending for the next write and
            # compaction or reindex finds the folders anyway.
            with contextlib.suppress(OSError):
                self._journal(*(item.entry for item in fresh))
            _hook("archive:journaled")
        results = []
        for step in plan:
            if isinstance(step, str):
                results.append(dataclasses.replace(self.get_run(step), duplicate=True))
            else:
                position, repeated = step
                run = runs[position]
                results.append(dataclasses.replace(run, duplicate=True) if repeated else run)
        return results

    def archive_training_run(
        self,
        summary_data: Mapping[str, Any] | bytes | bytearray | str,
        *,
        source: str | None = None,
    ) -> ArchivedRun:
        """Gate a summary and archive it as a new run; the same bytes are archived once.

        Raises SummaryError for an invalid summary (nothing is written) and ArchiveError
        when the archive cannot be written (nothing is published).
        """
        return self.commit(self.prepare(summary_data, source=source))

    def archive_training_runs(
        self, summaries: Iterable[Mapping[str, Any] | bytes | bytearray | str]
    ) -> list[ArchivedRun]:
        """archive_training_run for many summaries, committed in groups of GROUP_SIZE.

        Much faster than one at a time: a group's files are flushed with one syncfs. An
        invalid summary raises SummaryError naming its position, after the summaries
        before it are archived; calling again is safe (those come back as duplicates).
        """
        runs: list[ArchivedRun] = []
        group: list[PreparedRun] = []
        for position, summary_data in enumerate(summaries):
            try:
                group.append(self.prepare(summary_data))
            except SummaryError as error:
                runs.extend(self.commit_many(group))
                raise SummaryError(f"summary #{position}: {error}") from None
            if len(group) == GROUP_SIZE:
                runs.extend(self.commit_many(group))
                group.clear()
        runs.extend(self.commit_many(group))
        return runs

    def _publish(self, group: Sequence[PreparedRun]) -> list[Path]:
        """Build each run folder in staging, flush them, and rename them into place.

        One run has each file and its folder fsynced; a group is flushed with one syncfs
        (where the system has it). Either way every byte is on disk before the first
        rename, so a crash leaves staging folders (dropped by recover), never a torn run.
        """
        if not group:
            return []
        one_sync = len(group) > 1 and _SYNCFS is not None
        # Opened before the first write: syncfs reports the write-back errors seen since.
        folder = os.open(self.archive_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stagings: list[Path] = []
        published = 0
        try:
            for prepared in group:
                staging = self.archive_dir / f"{_STAGING_PREFIX}{prepared.run.timestamp}"
                staging.mkdir()
                stagings.append(staging)
                for name, data in prepared.files.items():
                    write_durably(staging / name, data, staged=True, sync=not one_sync)
                if not one_sync:
                    _fsync_dir(staging)
            if one_sync:
                _sync_filesystem(folder)
            _hook("archive:staged")
            finals = [self.archive_dir / prepared.run.timestamp for prepared in group]
            for staging, final in zip(stagings, finals, strict=True):
                os.rename(staging, final)
                published += 1
                _hook("archive:published")
            with contextlib.suppress(OSError):
                # An fsync failing after the renames lands here: the runs are in place.
                os.fsync(folder)
        except BaseException:
            for staging in stagings[published:]:
                shutil.rmtree(staging, ignore_errors=True)
            # Runs renamed before the failure are archived: index them before raising.
            with contextlib.suppress(OSError):
                self._journal(*(prepared.entry for prepared in group[:published]))
            raise
        finally:
            os.close(folder)
        _hook("archive:committed")
        return finals

    def reject(
        self, raw: bytes | None, *, source: str, reason: str, sha256: str | None = None
    ) -> Path:
        """Keep a copy of a rejected file and why, in ``_rejected/``; return the reason file."""
        with self._writing("record rejection"):
            self.rejected_dir.mkdir(exist_ok=True)
            stamp = self._next_timestamp()
            base = f"{stamp}-{_safe_name(Path(source).name)}"
            if raw is not None:
                write_durably(self.rejected_dir / base, raw)
            reason_path = self.rejected_dir / f"{base}.reason.json"
            record = {
                "source": source,
                "sha256": sha256,
                "reason": reason,
                "rejected_at": stamp,
                "copied": raw is not None,
            }
            write_durably(reason_path, json.dumps(record, indent=2).encode() + b"\n")
            return reason_path

    def rejected_digests(self) -> set[str]:
        """The sha256 of every file already rejected (so it is not retried unchanged)."""
        digests: set[str] = set()
        try:
            names = os.listdir(self.rejected_dir)
        except FileNotFoundError:
            return digests
        for name in names:
            if name.endswith(".reason.json"):
                with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                    sha = json.loads((self.rejected_dir / name).read_bytes())["sha256"]
                    if isinstance(sha, str):
                        digests.add(sha)
        return digests

    def compact(self) -> int:
        """Fold the journal into index.json; return how many runs the index now lists."""
        with self._writing("compact"):
            self._reconcile()
            count = self._replace_index(self._merged(), "compact:index_written")
            self._refresh()
            return count

    def reindex(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Rebuild index.json from the run folders alone; return how many runs it lists.

        When ``cancelled()`` turns true the rebuild stops and leaves the index as it was
        (ReindexCancelledError).
        """
        with self._writing("reindex"):
            folders = self._run_folders()

            def lines() -> Iterator[bytes]:
                for done, timestamp in enumerate(folders, 1):
                    if cancelled is not None and cancelled():
                        raise ReindexCancelledError("reindex cancelled; the index is unchanged")
                    entry = self._load_entry(timestamp)
                    if entry is not None:
                        yield entry_line(entry)
                    if progress is not None:
                        progress(done, len(folders))

            count = self._replace_index(lines(), "reindex:index_written")
            self._unjournaled.clear()
            self._refresh()
            return count

    def _replace_index(self, lines: Iterable[bytes], point: str) -> int:
        """Write ``lines`` as index.json, then empty the journal; return the line count.

        ``point`` names the crash hook between the two writes.
        """
        count = 0

        def counted() -> Iterator[bytes]:
            nonlocal count
            for line in lines:
                count += 1
                yield line

        write_durably(self.index_path, render_index(counted()))
        _hook(point)
        write_durably(self.journal_path, b"")
        return count

    # --- queries ---------------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> str | None:
        """The timestamp of the run archived from these bytes, if any."""
        with self._thread_lock:
            return self._refresh().by_sha.get(sha256)

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first: timestamp, run_id, source and the three counts."""
        keys = ("timestamp", "run_id", "source", "approved", "review", "dropped")
        runs = []
        for line in self._merged():
            entry = json.loads(line)
            runs.append({key: entry.get(key) for key in keys})
        return runs

    def run_entry(self, timestamp: str | None = None) -> dict[str, Any] | None:
        """A run's index entry: counts and each model's decision (latest when None).

        Read from the run folder itself, which is the truth the index is derived from.
        """
        if timestamp is None:
            timestamp = self._latest_folder()
            if timestamp is None:
                return None
        entry = self._load_entry(timestamp) if _TIMESTAMP.match(timestamp) else None
        if entry is None:
            raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}")
        return entry

    def get_approved_models(self, timestamp: str | None = None) -> list[str]:
        """Symbols APPROVED in a run (the latest when ``timestamp`` is None)."""
        entry = self.run_entry(timestamp)
        if entry is None:
            return []
        return [
            symbol
            for symbol, model in entry["models"].items()
            if model["classification"] == Classification.APPROVED
        ]

    def get_symbol_history(self, symbol: str) -> list[dict[str, Any]]:
        """One dict per run that gated ``symbol``, oldest first."""
        return [json.loads(record) for record in self.symbol_history_json(symbol)]

    def symbol_history_json(self, symbol: str) -> Iterator[bytes]:
        """get_symbol_history's records as JSON, streamed from the index.

        Only the symbol's part of each run line is touched, so it stays quick for an
        archive of years of runs.
        """
        key = symbol_key(symbol)
        for line in self._merged():
            record = line_model_json(line, key)
            if record is not None:
                yield record

    def get_run(self, timestamp: str) -> ArchivedRun:
        """The full gating result of one archived run, read from its folder."""
        if not _TIMESTAMP.match(timestamp):
            raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}")
        folder = self.archive_dir / timestamp
        try:
            record = json.loads((folder / "model_assessments.json").read_bytes())
        except FileNotFoundError:
            raise RunNotFoundError(f"no archived run has timestamp {timestamp!r}") from None
        except (OSError, ValueError) as error:
            raise ArchiveError(f"{folder}: unreadable run record: {error}") from None
        return run_from_record(record, folder)

    def assess(self, summary_data: Mapping[str, Any] | bytes | bytearray | str) -> ArchivedRun:
        """Gate a summary without archiving anything (a dry run)."""
        summary = parse_summary(summary_data, max_bytes=self.max_file_bytes)
        return gate_summary(summary, self.config, self._next_timestamp())
