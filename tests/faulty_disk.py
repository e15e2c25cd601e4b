"""FaultyDisk: the archive's disk with named steps where a test makes a write crash or fail."""

from __future__ import annotations

import errno
import fnmatch
import os

from gating.archive.disk import Disk

__all__ = ["CRASH_STATUS", "FaultyDisk"]

CRASH_STATUS = 86  # what a process ended at a crash step exits with


class FaultyDisk(Disk):
    """A Disk that ends the process at steps matching ``crash_at`` (exit 86), or raises
    ENOSPC at those matching ``fail_at`` (only ``fail_times`` times, when given).

    Both are fnmatch patterns over step names such as ``write:summary.json:synced`` or
    ``archive:staged``. Tests build an archive with one (``disk=FaultyDisk(...)``); the
    tests' launcher builds one from its environment for a real `gatewatch` process.
    """

    def __init__(
        self,
        *,
        crash_at: str | None = None,
        fail_at: str | None = None,
        fail_times: int | None = None,
    ) -> None:
        self.crash_at = crash_at
        self.fail_at = fail_at
        self.fail_times = fail_times
        self.failed = 0  # how many steps have raised ENOSPC so far

    def step(self, name: str) -> None:
        """End the process, raise ENOSPC, or (usually) nothing."""
        if self.crash_at and fnmatch.fnmatchcase(name, self.crash_at):
            os._exit(CRASH_STATUS)
        armed = self.fail_at and fnmatch.fnmatchcase(name, self.fail_at)
        if armed and (self.fail_times is None or self.failed < self.fail_times):
            self.failed += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
