"""When is a watched file complete? Pure bookkeeping of file events against a clock."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PendingFiles", "Signature", "Verdict"]

# (inode, size, mtime_ns): a file whose signature did not change did not change.
Signature = tuple[int, int, int]


class Verdict(enum.Enum):
    """What to do with a file whose check came due."""

    TAKE = "take"
    WAIT = "wait"
    FORGET = "forget"


@dataclass(slots=True)
class _State:
    signature: Signature | None
    changed_at: float
    due: float
    complete: bool = False
    opens: int = 0


@dataclass(slots=True)
class PendingFiles:
    """Files seen but not yet taken, each with the time its next check is due.

    A file is taken at once when an event says it is complete (closed after writing,
    renamed into the tree); otherwise once its signature has not changed for
    ``settle`` seconds and nobody holds it open (open counts come from inotify events;
    a count that stays up while the file is quiet for ``stuck_open`` seconds is trusted
    no more, in case a close event was lost).
    """

    settle: float
    stuck_open: float = 60.0
    _files: dict[Path, _State] = field(default_factory=dict)

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

    def completed(self, path: Path, signature: Signature | None, now: float) -> None:
        """The file was closed after writing or renamed into place: take it now."""
        state = self._state(path, signature, now)
        state.signature = signature
        state.changed_at = now
        state.complete = True
        state.opens = 0 if state.opens <= 1 else state.opens - 1
        state.due = now

    def opened(self, path: Path, now: float) -> None:
        """Someone opened the file (a writer, or just a reader)."""
        state = self._state(path, None, now)
        state.opens += 1

    def closed_unwritten(self, path: Path) -> None:
        """Someone closed the file without writing to it."""
        state = self._files.get(path)
        if state is not None and state.opens > 0:
            state.opens -= 1

    def found(self, path: Path, signature: Signature, age: float, now: float) -> None:
        """A scan found the file, last modified ``age`` seconds ago."""
        if path in self._files:
            return
        changed_at = now - max(age, 0.0)
        self._files[path] = _State(signature, changed_at, max(now, changed_at + self.settle))

    def forget(self, path: Path) -> None:
        """Stop tracking a file (taken, deleted or not ours)."""
        self._files.pop(path, None)

    def next_due(self) -> float | None:
        """The monotonic time of the earliest check, or None when nothing is pending."""
        return min((state.due for state in self._files.values()), default=None)

    def due(self, now: float) -> list[Path]:
        """Files whose check is due, earliest first."""
        ready = [(state.due, path) for path, state in self._files.items() if state.due <= now]
        return [path for _, path in sorted(ready)]

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
        if state.opens > 0 and quiet < self.stuck_open:
            state.due = now + self.settle
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
