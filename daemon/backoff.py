"""Retrying files that failed to archive: 5 s doubling to 10 min, logged when it changes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from daemon.pending import Signature

__all__ = ["Backoff", "Retry"]

FIRST_SECONDS = 5.0
MAX_SECONDS = 600.0
# A run timestamp in a reason names the attempt, not the failure: a read-only archive
# fails each attempt on another `.staging-<timestamp>` folder, and that is the same failure.
_TIMESTAMP = re.compile(r"\d{8}T\d{12}Z")


def _failure_kind(reason: str) -> str:
    """The reason without the run timestamps in it: two attempts failing alike match."""
    return _TIMESTAMP.sub("<timestamp>", reason)


@dataclass(frozen=True, slots=True)
class Retry:
    """When to try a failed file again, and whether this failure is news worth a log line."""

    delay: float
    attempts: int
    news: bool


@dataclass(slots=True)
class _Failure:
    reason: str
    signature: Signature | None
    delay: float
    attempts: int
    rearmed: bool = False  # its next failure waits ``first`` again (see rearm)


@dataclass(slots=True)
class Backoff:
    """Per-file retry delays; the same failure of the same bytes doubles the delay."""

    first: float = FIRST_SECONDS
    limit: float = MAX_SECONDS
    _failures: dict[Path, _Failure] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._failures)

    def failed(self, path: Path, reason: str, signature: Signature | None) -> Retry:
        """Record a failure; a new reason or changed file starts again at ``first``."""
        known, kind = self._failures.get(path), _failure_kind(reason)
        if known is None or known.reason != kind or known.signature != signature:
            known = self._failures[path] = _Failure(kind, signature, self.first, 1)
            return Retry(known.delay, known.attempts, news=True)
        known.delay = self.first if known.rearmed else min(self.limit, known.delay * 2)
        known.rearmed = False
        known.attempts += 1
        return Retry(known.delay, known.attempts, news=False)

    def rearm(self) -> list[Path]:
        """The files whose last attempt failed, each to wait ``first`` again if it fails
        once more (their failures' cause may be gone: a database back, say)."""
        for failure in self._failures.values():
            failure.rearmed = True
        return list(self._failures)

    def forget(self, path: Path) -> None:
        """The file is gone, or no longer a summary to take: its failures no longer count."""
        self._failures.pop(path, None)

    def succeeded(self, path: Path) -> int:
        """Forget the file's failures; return how many there were (0: none)."""
        known = self._failures.pop(path, None)
        return 0 if known is None else known.attempts
