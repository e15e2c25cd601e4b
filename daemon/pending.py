"""When is a watched file complete? Pure bookkeeping of file events against a clock."""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

__all__ = ["PendingFiles", "Signature", "Verdict"]

# (inode, size, mtime_ns): a file whose signature did not change did not change.
Signature = tuple[int, int, int]

_order = itemgetter(0, 1)  # fresh first, then by due time; equal keys keep arrival order


class Verdict(enum.Enum):
    """What to do with a file whose check came due."""

    TAKE = "take"
    WAIT = "wait"
    HELD = "held"  # wait: a writer has held it open, quiet, for stuck_open seconds (once)
    FORGET = "forget"


@dataclass(slots=True)
class _State:
    signature: Signature | None
    changed_at: float
    due: float
    complete: bool = False
    writing: bool = False  # a writer holds it open: its close event is still to come
    lost: bool = False  # inotify's queue overflowed since its last write: the close may be lost
    told: bool = False  # HELD was answered for it
    fresh: bool = True  # an event reported it; False for a scan's find (the backlog)


@dataclass(slots=True)
class PendingFiles:
    """Files seen but not yet taken, each with the time its next check is due.

    A file is taken at once when an event says it is complete (closed after writing,
    renamed into the tree); otherwise once its signature has not changed for
    ``settle`` seconds and no writer holds it open. Inotify reports a write as
    ``written``: the writer has the file open until its close event, waited for while the
    file stays quiet ``held_open`` seconds at most (a writer pausing between writes is
    never taken half-way); after an inotify queue overflow (``closes_lost``), which may
    have lost that close, ``stuck_open`` seconds at most. A file taken but found cut short
    (its writer may close it between pieces) is rejected only once it has stayed as it is
    for ``cut_wait`` seconds.
    """

    settle: float
    stuck_open: float = 60.0
    cut_wait: float = 10.0
    held_open: float = 3600.0
    _files: dict[Path, _State] = field(default_factory=dict)
    # Files taken but found cut short: as they were, and since when (see cut_short).
    _cut: dict[Path, tuple[Signature, float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def _state(self, path: Path, signature: Signature | None, now: float) -> _State:
        state = self._files.get(path)
        if state is None:
            state = self._files[path] = _State(signature, now, now + self.settle)
        return state

    def changed(self, path: Path, signature: Signature | None, now: float) -> None:
        """The file was created or written to: wait for it to settle."""
        state = self._state(path, signature, now)
        if signature != state.signature:
            state.signature = signature
            state.complete = False
        state.changed_at = now
        state.due = now + self.settle
        state.fresh = True

    def written(self, path: Path, signature: Signature | None, now: float) -> None:
        """A writer wrote to the file and holds it open: wait for its close."""
        self.changed(path, signature, now)
        state = self._files[path]
        state.writing, state.lost = True, False

    def closes_lost(self) -> None:
        """Inotify's queue overflowed: the close of a file written to may be lost, so it is
        waited for ``stuck_open`` seconds at most."""
        for state in self._files.values():
            state.lost = state.writing

    def completed(self, path: Path, signature: Signature | None, now: float) -> None:
        """The file was closed after writing or renamed into place: take it now."""
        state = self._state(path, signature, now)
        state.signature = signature
        state.changed_at = now
        state.complete = True
        state.writing = False
        state.fresh = True
        state.due = now

    def found(self, path: Path, signature: Signature, age: float, now: float) -> None:
        """A scan found the file, last modified ``age`` seconds ago."""
        if path in self._files:
            return
        changed_at = now - max(age, 0.0)
        due = max(now, changed_at + self.settle)
        self._files[path] = _State(signature, changed_at, due, fresh=False)

    def forget(self, path: Path) -> None:
        """Stop tracking a file (taken, deleted or not ours)."""
        self._files.pop(path, None)

    def next_due(self) -> float | None:
        """The monotonic time of the earliest check, or None when nothing is pending."""
        return min((state.due for state in self._files.values()), default=None)

    def due(self, now: float, limit: int | None = None) -> list[Path]:
        """Files whose check is due (at most ``limit``): those events reported first, so a
        new file never waits behind a backlog a scan found, then earliest first."""
        ready = (
            (not state.fresh, state.due, path)
            for path, state in self._files.items()
            if state.due <= now
        )
        if limit is None:
            return [path for _, _, path in sorted(ready, key=_order)]
        # A long backlog is taken a batch at a time: no need to sort all of it each time.
        return [path for _, _, path in heapq.nsmallest(limit, ready, key=_order)]

    def check(self, path: Path, signature: Signature | None, now: float) -> Verdict:
        """Decide about a due file given its current signature (None: it is gone)."""
        state = self._files.get(path)
        if state is None or signature is None:
            self.forget(path)
            return Verdict.FORGET
        if signature != state.signature:
            state.signature = signature
            state.changed_at = now
            state.complete = False
        quiet = now - state.changed_at
        if state.writing and quiet < (self.stuck_open if state.lost else self.held_open):
            state.due = now + self.settle
            if quiet >= self.stuck_open and not state.told:
                state.told = True
                return Verdict.HELD
            return Verdict.WAIT
        if state.complete or quiet >= self.settle:
            self.forget(path)
            return Verdict.TAKE
        state.due = state.changed_at + self.settle
        return Verdict.WAIT

    def retry_later(
        self, path: Path, signature: Signature | None, now: float, delay: float
    ) -> None:
        """Check the file again after ``delay`` seconds (after a failure to archive it)."""
        state = self._state(path, signature, now)
        state.due = now + delay

    def due_now(self, paths: Iterable[Path], now: float) -> int:
        """Check these files at once if they wait (their failure's cause may be gone);
        return how many wait."""
        count = 0
        for path in paths:
            state = self._files.get(path)
            if state is not None:
                state.due = min(state.due, now)
                count += 1
        return count

    def cut_short(self, path: Path, signature: Signature, now: float) -> None:
        """The file was taken but is cut short (its writer may close it between writes):
        check it again after ``settle`` seconds, then after twice as long as it has waited
        so far (1, 2, 4 ... s: it is read again at each look), the last look when
        ``cut_wait`` is up; its wait starts now unless it already waits as it is."""
        since = self._waiting_since(path, signature)
        if since is None:
            since = now
            self._cut[path] = (signature, now)
        waited, left = now - since, since + self.cut_wait - now
        self.retry_later(path, signature, now, max(self.settle, min(waited, left)))

    def may_wait(self, path: Path, signature: Signature, now: float) -> bool:
        """Whether the file, if cut short, is waited for rather than rejected: until it has
        stayed as it is for ``cut_wait`` seconds since first found so (a writer pausing
        between pieces; a close without a write does not end the wait)."""
        since = self._waiting_since(path, signature)
        return since is None or now - since < self.cut_wait

    def settled(self, path: Path) -> None:
        """The file cut short was taken whole, rejected or is gone: its wait is over."""
        self._cut.pop(path, None)

    def _waiting_since(self, path: Path, signature: Signature) -> float | None:
        seen = self._cut.get(path)
        return seen[1] if seen is not None and seen[0] == signature else None
