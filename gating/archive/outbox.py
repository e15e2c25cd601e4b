"""The notification outbox in the archive folder: durable event segments, per-target cursors.

Layout (under ``training_archives/outbox/``)::

    segments/{sequence}.jsonl      one file per step that emitted events, one event per line
    cursors/{target}.json          where a target is: next segment and line, and its counts
    failed/{target}/{name}.json    events a target gave up on, with the last error
    .lock                          held while a segment is added

A segment is written like every archive file (temp file, fsync, rename, fsync of the
folder) and never changed afterwards, so an event is on disk before the step that caused
it returns. Segment names increase: each is after every segment present and every cursor.
A segment every target has passed is deleted, so the outbox empties once all is sent.
Cursors are replaced atomically but not fsynced: a cursor lost to a power cut only sends
events again (delivery is at least once; receivers deduplicate by id). File I/O only, no
threads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gating.archive.disk import DISK, Disk
from gating.archive.durable import no_room, not_ours, read_regular
from gating.archive.lock import FileLock
from gating.errors import ArchiveError
from gating.events import Event

__all__ = ["OUTBOX_DIR", "Cursor", "Outbox", "stored_event"]

OUTBOX_DIR = "outbox"
# ASCII digits only: \d takes any script's ("\uff10" * 20 reads as 0 and sorts after every
# name of ours), and \Z: no newline after.
_SEGMENT = re.compile(r"^[0-9]{20}\.jsonl\Z")
# How far ahead of the clock a segment's name may be and still be ours. Names come from
# time.time_ns(), or one past the newest name when the clock is behind it, so ours are never
# far ahead. One further (99999999999999999999.jsonl, made by hand) would be the floor of
# every name after it: the next would be 21 digits long (never read again), or sort before
# a cursor left on it. A bound that moves with the clock always leaves room past the floor.
_AHEAD_NS = 10 * 365 * 24 * 3600 * 10**9
_ROOM_BYTES = 4 * 1024 * 1024  # free space a group's events need (~1 MiB for 50 runs)
_MAX_CURSOR_BYTES = 64 * 1024  # a cursor is ~100 bytes
_MAX_FAILED_BYTES = 4 * 1024 * 1024  # a failed event's record: the event and its error
_MAX_SEGMENT_BYTES = 256 * 1024 * 1024  # the most a segment is read whole (one never larger
_SEGMENT_BYTES = 16 * 1024 * 1024  # is written: a step's events are split at this size; a
# group of 50 runs is ~1 MiB, one of 40 runs of 12,000 models 364 MiB, and was never read)
# The most lines a segment of ours may have: 16 MiB of events of 100 bytes or more is at
# most ~170,000. A file with more (256 MiB of newlines, planted) is not read: a line each
# would have been an object in memory, gigabytes.
_MAX_SEGMENT_LINES = 250_000
_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z: no newline after


@dataclass(frozen=True, slots=True)
class Cursor:
    """A target's place in the outbox: the next event is line ``line`` of ``segment``."""

    segment: str = ""
    line: int = 0
    delivered: int = 0
    failed: int = 0

    def before(self, segment: str, line: int) -> bool:
        """Whether the event at (segment, line) is still ahead of this cursor."""
        return (segment, line) >= (self.segment, self.line)


def _split(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Lines joined into pieces of at most _SEGMENT_BYTES (a longer line is a piece alone)."""
    piece: list[bytes] = []
    size = 0
    for line in lines:
        if piece and size + len(line) > _SEGMENT_BYTES:
            yield b"".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line)
    if piece:
        yield b"".join(piece)


def _is_segment(name: str, now_ns: int) -> bool:
    """Whether a file name is one of our segments' (20 digits, at most _AHEAD_NS past the
    clock's ``now_ns``)."""
    return bool(_SEGMENT.match(name)) and int(name[:20]) <= now_ns + _AHEAD_NS


def _check_target(target: str) -> str:
    if not _TARGET.match(target):
        raise ValueError(f"target name {target!r}: use letters, digits, '.', '_' and '-'")
    return target


def _dumps(event: Event) -> bytes:
    """One event as compact strict JSON: orjson, or the standard encoder for what orjson
    refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(event)
    except orjson.JSONEncodeError:
        return json.dumps(event, allow_nan=False, separators=(",", ":")).encode()


def stored_event(text: str | bytes) -> Event:
    """One stored event (a segment's line, a shared archive's events row). One that is not
    an event (never written by us) is an event with no id: it still takes its place, so
    positions stay stable, and senders pass it over."""
    try:
        event = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        event = None
    shapes = (("id", str), ("type", str), ("data", dict))  # an id of 5, or no data: planted
    ours = (
        isinstance(event, dict)
        and event.get("id")
        and all(isinstance(event.get(key), kind) for key, kind in shapes)
    )
    return event if ours else {"id": None, "type": None}


_LOCK_SECONDS = 30.0


class Outbox:
    """Events waiting to be delivered, kept in ``folder`` (the archive's ``outbox/``)."""

    def __init__(self, folder: str | os.PathLike[str], *, disk: Disk = DISK) -> None:
        """Open (lazily create) the outbox at ``folder``; ``disk`` writes its files."""
        self.folder = Path(folder)
        self.disk = disk
        self._file_lock = FileLock(self.folder / ".lock", what="another outbox writer")
        self.segments_dir = self.folder / "segments"
        self.cursors_dir = self.folder / "cursors"
        self.failed_dir = self.folder / "failed"
        self._last = 0
        self._lock = threading.Lock()  # emit may be called from more than one thread
        # Notified after each append, so a reader in this process can wait for new events.
        self.appended = threading.Condition()

    # --- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self._file_lock.acquire(timeout=_LOCK_SECONDS)
        try:
            yield
        finally:
            self._file_lock.release()

    def _next_name(self) -> str:
        """A segment name after every segment, every cursor and every name handed out."""
        floor = self._last
        for name in self.segments():
            floor = max(floor, int(name[:20]))
        for target in self.targets():
            segment = self.cursor(target).segment
            if segment:  # a cursor reads as one naming a segment of ours, or none
                floor = max(floor, int(segment[:20]))
        self._last = max(time.time_ns(), floor + 1)
        return f"{self._last:020d}.jsonl"

    def append(self, events: Sequence[Event]) -> str | None:
        """Write ``events`` durably as new segments, in order, each at most
        _SEGMENT_BYTES (one, unless the step's events are many); return the last one's name
        (None if empty).

        OSError if they cannot be written (then nothing is added).
        """
        if not events:
            return None
        written: list[Path] = []
        with self._locked():
            try:
                for data in _split(_dumps(event) + b"\n" for event in events):
                    written.append(self.segments_dir / self._next_name())
                    self.disk.write(written[-1], data)
            except BaseException:
                for path in written:  # all or nothing
                    path.unlink(missing_ok=True)
                raise
        self.disk.step("outbox:appended")
        with self.appended:
            self.appended.notify_all()
        return written[-1].name

    def emit_durably(self, events: Sequence[Event]) -> None:
        """Write ``events`` before the step that causes them goes on: ArchiveError if they
        cannot be written (the step then does not happen, or is undone)."""
        with self._lock:
            try:
                self.append(events)
            except OSError as error:
                raise ArchiveError(f"{self.folder}: cannot write events: {error}") from None

    def check_writable(self) -> None:
        """Before a step whose events go here (a group commit): ArchiveError unless events
        can be written now: the segments folder must be a folder this process may write,
        on a disk with room (_ROOM_BYTES) for them."""
        try:
            self.segments_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(self.segments_dir, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", str(self.segments_dir))
            if (room := no_room(self.segments_dir, _ROOM_BYTES)) is not None:
                raise OSError(errno.ENOSPC, f"no room: {room}", str(self.segments_dir))
        except OSError as error:
            raise ArchiveError(f"{self.folder}: cannot write events: {error}") from None

    # --- reading -------------------------------------------------------------------------

    def segments(self) -> list[str]:
        """The names of the segments present, oldest first."""
        try:
            names = os.listdir(self.segments_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        now = time.time_ns()
        return sorted(name for name in names if _is_segment(name, now))

    def read_segment(self, name: str) -> list[Event]:
        """The events of one segment, in order (see ``lines``)."""
        return [stored_event(line) for line in self.lines(name)]

    def lines(self, name: str) -> list[bytes]:
        """The lines of one segment, in order, each an event to parse with ``stored_event``
        (held as bytes: parsed whole, a planted segment of small nested lines took 17x its
        size). [] if it is gone, or not a file of ours: a symlink, a FIFO or a device is
        never opened, a file past 256 MiB or _MAX_SEGMENT_LINES lines never read. Lines end
        at a newline only: one of ours has no other line break (JSON escapes them). OSError
        if it cannot be read now (no file handles, say): passed over, its events would be
        lost."""
        lines = self._segment_bytes(name).split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # after the last newline
        return lines

    def _segment_bytes(self, name: str) -> bytes:
        """A segment's bytes (b"" if it is gone or not a file of ours: see ``lines``)."""
        try:
            data = read_regular(self.segments_dir / name, _MAX_SEGMENT_BYTES)
        except OSError as error:
            if not_ours(error):
                return b""
            raise
        return b"" if data.count(b"\n") > _MAX_SEGMENT_LINES else data

    def pending(self, target: str) -> Iterator[tuple[str, int, Event]]:
        """Every event still ahead of ``target``'s cursor: (segment, line, event)."""
        cursor = self.cursor(target)
        for name in self.segments():
            if name < cursor.segment:
                continue
            for line, text in enumerate(self.lines(name)):
                if cursor.before(name, line):
                    yield name, line, stored_event(text)

    def size(self) -> tuple[int, int]:
        """(segments, bytes) waiting in the outbox: regular files only (a symlink to
        /etc/passwd or a folder so named is no segment)."""
        count = total = 0
        for name in self.segments():
            with contextlib.suppress(FileNotFoundError):
                info = (self.segments_dir / name).lstat()
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
                    count += 1
        return count, total

    # --- cursors -------------------------------------------------------------------------

    def targets(self) -> list[str]:
        """Every target that has a cursor."""
        try:
            names = os.listdir(self.cursors_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        # Not a target's name (`hook copy.json`): passed over (the service died at each start).
        return sorted(n[:-5] for n in names if n.endswith(".json") and _TARGET.match(n[:-5]))

    def cursor(self, target: str) -> Cursor:
        """Where ``target`` is; a target never seen, or a cursor that is unreadable or names
        no segment of ours (edited by hand: it would pass over every event to come), starts
        at the oldest segment (events are sent again: at least once)."""
        path = self.cursors_dir / f"{_check_target(target)}.json"
        try:
            data: Any = json.loads(read_regular(path, _MAX_CURSOR_BYTES))
            cursor = Cursor(
                str(data["segment"]),
                max(0, int(data["line"])),
                max(0, int(data.get("delivered", 0))),
                max(0, int(data.get("failed", 0))),
            )
        except (OSError, ValueError, KeyError, TypeError, RecursionError, OverflowError):
            # A FIFO, a device or a huge file too: never blocks or fills memory; Infinity
            # or 1e999 (int() of it is OverflowError) killed every writer.
            return Cursor()
        if cursor.segment and not _is_segment(cursor.segment, time.time_ns()):
            return Cursor(delivered=cursor.delivered, failed=cursor.failed)
        return cursor

    def save_cursor(self, target: str, cursor: Cursor) -> None:
        """Replace ``target``'s cursor atomically (not fsynced: losing it re-sends)."""
        self.cursors_dir.mkdir(parents=True, exist_ok=True)
        path = self.cursors_dir / f"{_check_target(target)}.json"
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        document = {
            "segment": cursor.segment,
            "line": cursor.line,
            "delivered": cursor.delivered,
            "failed": cursor.failed,
        }
        temp.write_bytes(json.dumps(document).encode() + b"\n")
        os.replace(temp, path)

    def prune(self, targets: Iterable[str]) -> int:
        """Delete the segments every one of ``targets`` has passed; return how many."""
        cursors = [self.cursor(target) for target in targets]
        if not cursors:
            return 0
        removed = 0
        for name in self.segments():
            if any(name > c.segment for c in cursors):
                break  # some target has not finished this one (nor anything after it)
            if any(name == c.segment and c.line < self._line_count(name) for c in cursors):
                break
            try:
                (self.segments_dir / name).unlink()
            except (FileNotFoundError, IsADirectoryError):  # a folder so named is not ours
                continue
            removed += 1
        return removed

    def _line_count(self, name: str) -> int:
        return self._segment_bytes(name).count(b"\n")

    # --- failed events --------------------------------------------------------------------

    def keep_failed(
        self, target: str, segment: str, line: int, event: Event, *, error: str, attempts: int
    ) -> Path:
        """Keep an event ``target`` gave up on, with its last error (written durably)."""
        folder = self.failed_dir / _check_target(target)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{segment[:20]}-{line:06d}.json"
        record = {
            "target": target,
            "error": error,
            "attempts": attempts,
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": event,
        }
        self.disk.write(path, json.dumps(record, ensure_ascii=False, indent=2).encode() + b"\n")
        return path

    def failed(self, target: str) -> list[dict[str, Any]]:
        """The records of the events ``target`` gave up on, oldest first."""
        folder = self.failed_dir / _check_target(target)
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        except (FileNotFoundError, NotADirectoryError):
            return []
        records = []
        for name in names:
            with contextlib.suppress(OSError, ValueError, RecursionError):
                records.append(json.loads(read_regular(folder / name, _MAX_FAILED_BYTES)))
        return records

    def counts(self, target: str, wanted: Callable[[Event], bool]) -> dict[str, int]:
        """pending (events ``wanted`` ahead of the cursor), failed (regular files kept aside,
        unread: a FIFO, a folder or a symlink is no record) and delivered counts."""
        cursor = self.cursor(target)
        pending = sum(1 for _, _, event in self.pending(target) if wanted(event))
        failed, folder = 0, self.failed_dir / target  # none where a file is in its place
        with (
            contextlib.suppress(FileNotFoundError, NotADirectoryError),
            os.scandir(folder) as found,
        ):
            failed = sum(
                f.name.endswith(".json") and f.is_file(follow_symlinks=False) for f in found
            )
        return {"pending": pending, "failed": failed, "delivered": cursor.delivered}
