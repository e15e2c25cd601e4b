"""Rejected files: a copy of each and the reason, in ``_rejected/``."""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gating.archive.disk import Disk
from gating.archive.durable import read_regular
from gating.archive.layout import Layout
from gating.errors import ArchiveError, source_text

__all__ = [
    "RejectedFile",
    "count_rejected",
    "list_rejected",
    "reject",
    "rejected_keys",
    "unread_key",
]

_MAX_REASON_BYTES = 64 * 1024  # a reason file is a few hundred bytes; anything bigger is not ours


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return cleaned[:100] or "file"


def reject(
    layout: Layout,
    stamp: str,
    raw: bytes | None,
    *,
    source: str,
    reason: str,
    sha256: str | None,
    disk: Disk,
) -> Path:
    """Keep a copy of a rejected file and why; return the reason file's path."""
    try:
        layout.rejected.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file in its place: say so, not "File exists"
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(layout.rejected)) from None
    base = f"{stamp}-{_safe_name(Path(source).name)}"
    if raw is not None:
        disk.write(layout.rejected / base, raw)
    reason_path = layout.rejected / f"{base}.reason.json"
    record = {
        "source": source,
        "sha256": sha256,
        "reason": reason,
        "rejected_at": stamp,
        "copied": raw is not None,
    }
    disk.write(reason_path, json.dumps(record, indent=2).encode() + b"\n")
    return reason_path


@dataclass(frozen=True, slots=True)
class RejectedFile:
    """One rejected file as its reason file tells it."""

    rejected_at: str
    source: str
    reason: str
    sha256: str | None
    copied: bool

    def as_document(self) -> dict[str, object]:
        """`rejected --json`'s entry."""
        return {
            "rejected_at": self.rejected_at,
            "source": self.source,
            "reason": self.reason,
            "sha256": self.sha256,
            "copied": self.copied,
        }


def _read_reason(path: Path) -> RejectedFile | None:
    """A reason file, or None if it is not a regular file of ours (never blocks on a FIFO)."""
    try:
        record = json.loads(read_regular(path, _MAX_REASON_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    fields = (record.get("rejected_at"), record.get("source"), record.get("reason"))
    if not all(isinstance(value, str) for value in fields):
        return None
    sha = record.get("sha256")
    return RejectedFile(
        str(fields[0]),
        str(fields[1]),
        str(fields[2]),
        sha if isinstance(sha, str) else None,
        record.get("copied") is True,
    )


def _reason_names(folder: Path) -> list[str]:
    """The reason files' names in ``folder``: none where there is no folder (nothing, or a
    file in its place: a rejection then fails, archiving goes on); ArchiveError when it
    cannot be listed now (no more files may be opened, a failing disk)."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise ArchiveError(f"{folder}: cannot list the rejected files: {error.strerror}") from None
    return [name for name in names if name.endswith(".reason.json")]


def count_rejected(folder: Path) -> int:
    """How many reason files ``folder`` (``_rejected/``) holds (none are read)."""
    return len(_reason_names(folder))


def list_rejected(folder: Path, last: int | None = None) -> list[RejectedFile]:
    """The rejected files in ``folder`` (``_rejected/``), oldest first (the newest ``last``).

    A reason file that is not one of ours (not a regular file, too big, not the shape we
    write) is passed over.
    """
    names = sorted(_reason_names(folder))
    if last is not None:
        names = names[-last:] if last else []
    found = (_read_reason(folder / name) for name in names)
    return [entry for entry in found if entry is not None]


def unread_key(source: str, reason: str) -> str:
    """What stands for a file rejected unread (too large: there is no sha256 to remember it
    by) among the rejected digests: its name and the reason, which names its size and when
    it changed. The same file unchanged is rejected for the same reason again, so it is
    skipped; rewritten, it is looked at again."""
    return f"unread\n{source_text(source)}\n{reason}"


def rejected_keys(layout: Layout) -> set[str]:
    """The sha256 of every file already rejected, and unread_key for each one rejected
    unread (so neither is retried unchanged)."""
    digests: set[str] = set()
    for name in _reason_names(layout.rejected):
        found = _read_reason(layout.rejected / name)  # never a FIFO, nor /dev/zero
        if found is None:
            continue
        if found.sha256 is not None:
            digests.add(found.sha256)
        elif not found.copied:
            digests.add(unread_key(found.source, found.reason))
    return digests
