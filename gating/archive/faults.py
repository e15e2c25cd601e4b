"""Faults: the named points where a test makes an archive write crash or fail."""

from __future__ import annotations

import errno
import fnmatch
import os
from dataclasses import dataclass, field

__all__ = ["NO_FAULTS", "Faults"]

CRASH_STATUS = 86  # what a process ended at a crash point exits with


@dataclass(frozen=True)
class Faults:
    """Where to crash (``crash_at``) or raise ENOSPC (``fail_at``, ``fail_times`` times),
    and whether the service loses its watcher's events (``lose_events``).

    Both are fnmatch patterns over point names such as ``write:summary.json:synced`` or
    ``archive:staged``. The archive is given one of these; by default it has none, and
    only the tests' launcher builds one (from its environment).
    """

    crash_at: str | None = None
    fail_at: str | None = None
    fail_times: int | None = None
    lose_events: bool = False  # the service drops every watcher event (scans still find files)
    _failed: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    def hit(self, point: str) -> None:
        """Called at each point: end the process, raise ENOSPC, or (usually) nothing."""
        if self.crash_at and fnmatch.fnmatchcase(point, self.crash_at):
            os._exit(CRASH_STATUS)
        armed = self.fail_at and fnmatch.fnmatchcase(point, self.fail_at)
        if armed and (self.fail_times is None or self._failed[0] < self.fail_times):
            self._failed[0] += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), point)

    @property
    def active(self) -> bool:
        """Whether any point is armed."""
        return bool(self.crash_at or self.fail_at or self.lose_events)


NO_FAULTS = Faults()
