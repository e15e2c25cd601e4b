"""Taking summary files in: read each safely (``reading``), then archive, skip or reject it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from daemon.reading import NotRegularFileError, read_regular_file, real_roots
from gating import (
    GROUP_SIZE,
    ArchiveBusyError,
    ArchivedRun,
    ArchiveError,
    IncompleteSummaryError,
    PreparedRun,
    SummaryError,
    TrainingArchiveManager,
)
from gating.archive.rejections import unread_key

__all__ = [
    "GROUP_BYTES",
    "KeptRejections",
    "Outcome",
    "ingest",
    "ingest_bytes",
    "ingest_many",
]

# "incomplete": cut short (or too large) and allowed to wait, so neither taken nor
# rejected: its writer may still be at work (only for the paths the caller names).
OutcomeKind = Literal["archived", "duplicate", "rejected", "skipped", "failed", "incomplete"]
_REJECTING = threading.Lock()  # one rejection at a time in a process (see _reject)
# A group is committed once its summaries hold this much: a summary of 16 MiB (the default
# max_file_bytes) of small models takes ~45 s to gate, four took 160 s and the worker was
# taken for stalled (its heartbeat comes with each group's outcomes).
GROUP_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one file."""

    kind: OutcomeKind
    source: Path
    run: ArchivedRun | None = None
    timestamp: str | None = None
    reason: str | None = None
    sha256: str | None = None  # once read: a failure with one is the archive's, not the file's
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class _Read:
    """A file read and checked, waiting to be written: a prepared run or a rejection."""

    path: Path
    started: float
    raw: bytes | None
    sha256: str | None
    prepared: PreparedRun | None = None
    reason: str | None = None


def _outcome(kind: OutcomeKind, path: Path, started: float, **fields: Any) -> Outcome:
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return Outcome(kind, path, duration_ms=elapsed, **fields)


def _rejected_before(
    path: Path, started: float, sha256: str | None, rejected: set[str] | None
) -> Outcome | None:
    """A skip for bytes rejected before (``rejected`` holds their sha256s, and
    rejections.unread_key for files rejected unread), else None."""
    if rejected is None or sha256 is None or sha256 not in rejected:
        return None
    reason = "rejected before and unchanged"
    return _outcome("skipped", path, started, reason=reason, sha256=sha256)


def _unread_key(item: _Read) -> str | None:
    """The key that remembers a rejection of a file not read (too large), else None."""
    return unread_key(str(item.path), str(item.reason)) if item.raw is None else None


def _read_and_prepare(
    manager: TrainingArchiveManager,
    path: Path,
    rejected: set[str] | None,
    may_wait: Collection[Path] = (),
    within: Sequence[str] | None = None,
) -> Outcome | _Read:
    """Everything before the first write: read, hash, skip or prepare (no disk writes).
    A file too large may be growing still: if it ``may_wait``, it is ``incomplete``."""
    started = time.perf_counter()
    try:
        raw = read_regular_file(path, manager.max_file_bytes, within)
    except NotRegularFileError as error:
        reason = f"{error.strerror}; only regular files are read"
        return _outcome("skipped", path, started, reason=reason)
    except SummaryError as error:  # too large: the same size again, the same rejection
        unread = _Read(path, started, None, None, reason=str(error))
        if rejected is not None and _unread_key(unread) in rejected:
            return _outcome("skipped", path, started, reason="rejected before and unchanged")
        if path in may_wait:
            return _outcome("incomplete", path, started, reason=str(error))
        return unread
    except OSError as error:
        return _outcome("failed", path, started, reason=f"cannot read: {error.strerror or error}")
    return _prepare(manager, path, started, raw, rejected, may_wait=path in may_wait)


def _prepare(
    manager: TrainingArchiveManager,
    path: Path,
    started: float,
    raw: bytes,
    rejected: set[str] | None,
    *,
    may_wait: bool = False,
) -> Outcome | _Read:
    """Hash, then skip, answer as a duplicate or prepare bytes already read (no writes).

    A summary cut short (empty, or its JSON stops early) that ``may_wait`` is
    ``incomplete``: a writer that closes the file between its writes may still be at
    work, and is never rejected half-way."""
    sha256 = hashlib.sha256(raw).hexdigest()
    if (skipped := _rejected_before(path, started, sha256, rejected)) is not None:
        return skipped
    try:
        existing = manager.reader.find_by_sha256(sha256)  # cheaper than parsing the file again
        if existing is not None:
            return _outcome("duplicate", path, started, timestamp=existing, sha256=sha256)
        prepared = manager.prepare(raw, source=str(path), sha256=sha256)
        return _Read(path, started, raw, sha256, prepared=prepared)
    except IncompleteSummaryError as error:
        if may_wait:
            return _outcome("incomplete", path, started, reason=str(error), sha256=sha256)
        return _Read(path, started, raw, sha256, reason=str(error))
    except SummaryError as error:
        return _Read(path, started, raw, sha256, reason=str(error))
    except ArchiveError as error:
        return _outcome("failed", path, started, reason=str(error), sha256=sha256)


def _reject(manager: TrainingArchiveManager, item: _Read, rejected: set[str] | None) -> Outcome:
    """Keep the rejected file and why (once: the same bytes again are skipped).

    The check, the copy and the note that it was kept are one step in a process: the same
    invalid bytes sent by four requests at once were kept four times."""
    path, started, sha256 = item.path, item.started, item.sha256
    with _REJECTING:
        if (skipped := _rejected_before(path, started, sha256, rejected)) is not None:
            return skipped  # the same bytes came twice in one group, or on another thread
        try:
            manager.writer.reject(
                item.raw, source=str(path), reason=str(item.reason), sha256=sha256
            )
        except ArchiveError as failure:
            return _outcome("failed", path, started, reason=str(failure), sha256=sha256)
        if rejected is not None:
            key = sha256 if sha256 is not None else _unread_key(item)
            if key is not None:
                rejected.add(key)
    return _outcome("rejected", path, started, reason=item.reason, sha256=sha256)


def _commit(
    manager: TrainingArchiveManager, items: list[tuple[_Read, PreparedRun]]
) -> list[Outcome]:
    """Commit prepared runs as one group; if the group fails, each again on its own.

    Runs renamed before a group failed stay archived: alone they come back as archived.
    A busy archive fails them all at once (each would only wait for the lock again).
    """
    try:
        runs = manager.commit_many([prepared for _, prepared in items])
    except ArchiveError as error:
        if len(items) > 1 and not isinstance(error, ArchiveBusyError):
            return [outcome for item in items for outcome in _commit(manager, [item])]
        reason = str(error)
        return [
            _outcome("failed", read.path, read.started, reason=reason, sha256=read.sha256)
            for read, _ in items
        ]
    outcomes = []
    for (read, _), run in zip(items, runs, strict=True):
        kind: OutcomeKind = "duplicate" if run.duplicate else "archived"
        outcomes.append(
            _outcome(
                kind, read.path, read.started, run=run, timestamp=run.timestamp, sha256=read.sha256
            )
        )
    return outcomes


def _write_group(
    manager: TrainingArchiveManager,
    items: list[Outcome | _Read],
    rejected: set[str] | None,
    kept: set[str] | None = None,
) -> Iterator[Outcome]:
    """The writing half for a group of read files: one group commit, then the rejections
    (bytes in ``kept``, kept in `_rejected/` before, are told their reason again but not
    kept again: a person archiving or sending the same invalid file made a copy each time)."""
    ready = [(item, item.prepared) for item in items if isinstance(item, _Read) and item.prepared]
    committed = iter(_commit(manager, ready) if ready else [])
    for item in items:
        if isinstance(item, Outcome):
            yield item
        elif item.prepared is None:
            outcome = _reject(manager, item, rejected if rejected is not None else kept)
            if kept is not None and outcome.kind == "skipped":
                reason, sha256 = item.reason, item.sha256
                outcome = _outcome(
                    "rejected", item.path, item.started, reason=reason, sha256=sha256
                )
            yield outcome
        else:
            yield next(committed)


class KeptRejections(set[str]):
    """An archive's rejected_keys(), read at the first question: a run of the CLI that
    rejects nothing never reads `_rejected/` (asked under _REJECTING: one thread reads)."""

    def __init__(self, load: Callable[[], set[str]]) -> None:
        super().__init__()
        self._load: Callable[[], set[str]] | None = load

    def __contains__(self, key: object) -> bool:
        if self._load is not None:
            load, self._load = self._load, None
            self.update(load())
        return super().__contains__(key)


def ingest(
    manager: TrainingArchiveManager, path: Path, rejected: set[str] | None = None
) -> Outcome:
    """Archive one file, or record why not; ``rejected`` holds what not to retry (see
    _rejected_before)."""
    return next(ingest_many(manager, [path], rejected))


def ingest_bytes(
    manager: TrainingArchiveManager, raw: bytes, source: str, kept: set[str] | None = None
) -> Outcome:
    """Archive a summary received as bytes (POST /api/runs), or record why not, as a file
    would be: the same validation, the same duplicate check, the same `_rejected/`.

    A sender is always told why its bytes are rejected, but bytes whose sha256 is in
    ``kept`` (this process rejected them before) are not kept again: the same invalid
    summary posted 20 times was 20 copies."""
    started = time.perf_counter()
    path = Path(source)
    if len(raw) > manager.max_file_bytes:
        reason = f"file: {len(raw)} bytes is larger than max_file_bytes ({manager.max_file_bytes})"
        return next(_write_group(manager, [_Read(path, started, None, None, reason=reason)], None))
    return next(_write_group(manager, [_prepare(manager, path, started, raw, None)], None, kept))


def ingest_many(
    manager: TrainingArchiveManager,
    paths: Sequence[Path],
    rejected: set[str] | None = None,
    may_wait: Collection[Path] = (),
    within: Sequence[Path] | None = None,
    *,
    kept: set[str] | None = None,
) -> Iterator[Outcome]:
    """ingest() each path, outcomes in order; runs are committed in groups of GROUP_SIZE.
    ``rejected``: bytes the service skips unread; ``kept``: bytes the CLI tells again but
    does not keep again (see _write_group).
    A file cut short or too large is ``incomplete`` rather than rejected if it is one of
    ``may_wait`` (the service names those it has not yet seen so and unchanged since).
    With ``within`` (the watched folders), a file that lies outside them is skipped.

    A group's files are flushed to disk together (one syncfs rather than five fsyncs a
    run), so a backlog is archived about twice as fast as file by file. A group ends early
    once its summaries hold GROUP_BYTES: a few of the largest take minutes to gate, and the
    service would see its worker stalled.
    """
    real = None if within is None else real_roots(within)
    items: list[Outcome | _Read] = []
    held = 0  # bytes of the summaries in ``items``
    for path in paths:
        item = _read_and_prepare(manager, path, rejected, may_wait, real)
        items.append(item)
        held += len(item.raw or b"") if isinstance(item, _Read) else 0
        if len(items) == GROUP_SIZE or held >= GROUP_BYTES:
            yield from _write_group(manager, items, rejected, kept)
            items, held = [], 0
    if items:
        yield from _write_group(manager, items, rejected, kept)
