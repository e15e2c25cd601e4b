"""Rejected files: a copy of each and the reason, in ``_rejected/``."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from gating.archive.durable import write_durably
from gating.archive.faults import Faults
from gating.archive.layout import Layout

__all__ = ["reject", "rejected_digests"]


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
    faults: Faults,
) -> Path:
    """Keep a copy of a rejected file and why; return the reason file's path."""
    layout.rejected.mkdir(parents=True, exist_ok=True)
    base = f"{stamp}-{_safe_name(Path(source).name)}"
    if raw is not None:
        write_durably(layout.rejected / base, raw, faults=faults)
    reason_path = layout.rejected / f"{base}.reason.json"
    record = {
        "source": source,
        "sha256": sha256,
        "reason": reason,
        "rejected_at": stamp,
        "copied": raw is not None,
    }
    write_durably(reason_path, json.dumps(record, indent=2).encode() + b"\n", faults=faults)
    return reason_path


def rejected_digests(layout: Layout) -> set[str]:
    """The sha256 of every file already rejected (so it is not retried unchanged)."""
    digests: set[str] = set()
    try:
        names = os.listdir(layout.rejected)
    except FileNotFoundError:
        return digests
    for name in names:
        if name.endswith(".reason.json"):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                sha = json.loads((layout.rejected / name).read_bytes())["sha256"]
                if isinstance(sha, str):
                    digests.add(sha)
    return digests
