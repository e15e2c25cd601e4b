"""Disk: the archive's one seam for writing files (durable writes, appends, named steps)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gating.archive.durable import append_durably, write_durably

__all__ = ["DISK", "Disk"]


class Disk:
    """Writes the archive's files durably, and passes each named step of a write.

    Every file the archive, its decisions and its outbox write goes through one of these,
    like SQLite's VFS: the archive is built with a disk (``DISK`` by default), and a test
    builds it with a subclass whose ``step`` crashes or fails at chosen points
    (``tests/faulty_disk.py``). Step names look like ``write:summary.json:synced``
    or ``archive:staged``; the architecture page lists them.
    """

    def write(
        self, path: Path, data: bytes | Iterable[bytes], *, staged: bool = False, sync: bool = True
    ) -> None:
        """Write a whole file crash-safely (see ``durable.write_durably``)."""
        write_durably(path, data, staged=staged, sync=sync, step=self.step)

    def append(self, path: Path, line: bytes, *, sync: bool = True) -> tuple[int, int, int]:
        """Append records to a file and fsync it (see ``durable.append_durably``)."""
        return append_durably(path, line, sync=sync, step=self.step)

    def step(self, name: str) -> None:
        """A named point of a write has been reached; the real disk does nothing here."""


DISK = Disk()
