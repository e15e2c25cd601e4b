"""The service's status.json: what it holds, how healthy it says the service is, and its IO."""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.exits import EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK
from daemon.text import visible
from gating.archive.durable import no_room, read_regular, replace_small

__all__ = [
    "EXIT_HEALTHY",
    "EXIT_NOT_RUNNING",
    "EXIT_UNHEALTHY",
    "FAILING_SECONDS",
    "STALE_SECONDS",
    "STATUS_NAME",
    "STATUS_SECONDS",
    "Health",
    "assess_status",
    "epoch_of",
    "health_now",
    "iso_time",
    "pid_alive",
    "read_status",
    "render_services",
    "render_status",
    "status_document",
    "write_status",
]

STATUS_NAME = "status.json"
_STATUS_MAX_BYTES = 1024 * 1024  # status.json is ~1 kB: anything past this is not ours
STATUS_SECONDS = 2.0  # how often the service replaces status.json
STALE_SECONDS = 30.0  # older than this, the service is not keeping it up to date
_FULL_BELOW = 1024 * 1024  # bytes free (to the service's user) we call a full disk
# Archiving that has failed for this long with nothing archived since (a full disk, an
# archive it may not write) makes the service unhealthy: a retry that heals sooner does not.
FAILING_SECONDS = 60.0
EXIT_HEALTHY, EXIT_UNHEALTHY = EXIT_OK, EXIT_FAILED
LIVE_STATES = ("starting", "ready")
COUNTERS = ("archived", "duplicates", "rejected", "failed", "approved", "review", "dropped")


# --- the functional core ---------------------------------------------------------------


def iso_time(epoch: float) -> str:
    """A UNIX time as ISO 8601 UTC with a Z, to the millisecond."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def epoch_of(text: object) -> float | None:
    """The UNIX time of an ISO 8601 string; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def status_document(
    *,
    pid: int,
    host: str,
    started: float,
    state: str,
    queue_depth: int,
    counters: Mapping[str, int],
    unwatched_folders: int = 0,
    last_archive: Mapping[str, Any] | None,
    last_error: Mapping[str, Any] | None,
    now: float,
    failing_since: float | None = None,
) -> dict[str, Any]:
    """The content of status.json for one moment of the service (``failing_since``: when
    archiving began to fail, with nothing archived since)."""
    return {
        "pid": pid,
        "host": host,
        "started": iso_time(started),
        "updated": iso_time(now),
        "uptime_seconds": round(max(0.0, now - started), 3),
        "state": state,
        "queue_depth": queue_depth,
        "unwatched_folders": unwatched_folders,
        "counters": {name: int(counters.get(name, 0)) for name in COUNTERS},
        "last_archive": dict(last_archive) if last_archive else None,
        "last_error": dict(last_error) if last_error else None,
        "archive_failing_since": None if failing_since is None else iso_time(failing_since),
    }


@dataclass(frozen=True, slots=True)
class Health:
    """What a status document says: healthy, failing (it runs, but every archive has
    failed for over FAILING_SECONDS), stale, unhealthy or not running, and why."""

    state: str
    exit_code: int
    reason: str
    age_seconds: float | None = None

    @property
    def healthy(self) -> bool:
        """True when the service runs, keeps its status fresh and archives."""
        return self.exit_code == EXIT_HEALTHY

    @property
    def running(self) -> bool:
        """True when the service runs and keeps its status fresh (healthy or failing)."""
        return self.state in {"healthy", "failing"}

    def as_dict(self) -> dict[str, Any]:
        """The health as JSON-able fields."""
        return {
            "health": self.state,
            "healthy": self.healthy,
            "reason": self.reason,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 3),
        }


# A service that beats every 2 s and has not been seen for this long stopped without its
# goodbye (killed, its host gone): it is listed apart, not counted as writing.
GONE_SECONDS = 30.0


def _gone(services: Sequence[Mapping[str, Any]]) -> int:
    """How many of a shared archive's services were not seen for over GONE_SECONDS."""
    return sum(float(s["seen_seconds_ago"]) > GONE_SECONDS for s in services)


def assess_status(
    document: Mapping[str, Any] | None,
    now: float,
    alive: Callable[[int], bool],
    host: str,
    stale_after: float = STALE_SECONDS,
    *,
    services: Sequence[Mapping[str, Any]] | None = None,
    full: Callable[[], str | None] = lambda: None,
) -> Health:
    """Judge a status document read at ``now`` (``alive`` tells whether a pid runs here).
    A shared archive's ``services``: with no service on this host (a dashboard's host, say),
    the shared archive is healthy while one of them writes into it. ``full`` says why the
    archive's disk takes no file, if it does not: asked of a status not updated."""
    if document is None and services is not None:
        writing = len(services) - _gone(services)
        if writing:
            said = "1 service writes" if writing == 1 else f"{writing} services write"
            return Health("healthy", EXIT_HEALTHY, f"no service on this host; {said} into the "
                          "shared archive")  # fmt: skip
        return Health(
            "not running",
            EXIT_NOT_RUNNING,
            "no service on this host, and none writes into the shared archive",
        )
    if document is None:
        return Health(
            "not running",
            EXIT_NOT_RUNNING,
            "no status.json: the service never ran (or the file is not one it wrote)",
        )
    state = document.get("state")
    updated = epoch_of(document.get("updated"))
    age = None if updated is None else max(0.0, now - updated)
    pid = document.get("pid")
    if state == "stopped":
        return Health("not running", EXIT_NOT_RUNNING, "the service stopped", age)
    if document.get("host") == host and isinstance(pid, int) and not alive(pid):
        return Health("not running", EXIT_NOT_RUNNING, f"process {pid} is gone", age)
    if age is None or updated is None:
        return Health("unhealthy", EXIT_UNHEALTHY, "status.json has no update time")
    if updated - now > stale_after:  # hand-written, or the clock went back: not a fresh beat
        return Health("stale", EXIT_UNHEALTHY, f"updated {updated - now:.0f} s in the future", age)
    if age > stale_after:
        late = f"not updated for {age:.0f} s"
        if (room := full()) is not None:  # the service cannot replace it there
            late = f"{late}; no status can be written on the archive's disk ({room})"
        return Health("stale", EXIT_UNHEALTHY, late, age)
    if state not in LIVE_STATES:
        return Health("unhealthy", EXIT_UNHEALTHY, f"the service is {state}", age)
    failing = epoch_of(document.get("archive_failing_since"))
    if failing is not None and updated - failing > FAILING_SECONDS:
        return Health(
            "failing",
            EXIT_UNHEALTHY,
            f"archiving has failed for {updated - failing:.0f} s, nothing archived since "
            "(the last error says why)",
            age,
        )
    return Health("healthy", EXIT_HEALTHY, f"the service is {state}", age)


def status_json(document: Mapping[str, Any] | None, health: Health) -> dict[str, Any]:
    """What `gatewatch status --json` prints and /health serves: the health and the status."""
    return {**health.as_dict(), "status": dict(document) if document is not None else None}


def render_services(services: list[dict[str, Any]]) -> str:
    """The services heartbeating into a shared archive, a line each; those not seen for
    GONE_SECONDS are counted apart and marked (a `kill -9` left one listed for good)."""
    gone = _gone(services)
    apart = f" (and {gone} not seen for over {GONE_SECONDS:.0f} s: gone?)" if gone else ""
    lines = [f"services writing into the shared archive: {len(services) - gone}{apart}"]
    lines += [
        visible(
            f"  {s['host']} pid {s['pid']} (gatewatch {s['version']}), started {s['started']}, "
            f"seen {float(s['seen_seconds_ago']):.0f} s ago"
            + (" (gone?)" if float(s["seen_seconds_ago"]) > GONE_SECONDS else "")
        )  # rows any database writer may have written: never a terminal's escape
        for s in services
    ]
    return "\n".join(lines) + "\n"


# A file retried after failing counts once per attempt: "failed" alone read as files.
_LABELS = {"failed": "failed attempts"}


def render_status(document: Mapping[str, Any] | None, health: Health) -> str:
    """The status as a few lines of text for a person."""
    lines = [f"gatewatch: {health.state} ({health.reason})"]
    if document is None:
        return visible(lines[0]) + "\n"
    counters = document.get("counters") or {}
    lines += [
        f"pid {document.get('pid')} on {document.get('host')}, started {document.get('started')}",
        f"state {document.get('state')}, queue depth {document.get('queue_depth')}, "
        f"updated {document.get('updated')}",
        "files: "
        + ", ".join(f"{counters.get(k, 0)} {_LABELS.get(k, k)}" for k in COUNTERS[:4])
        + "; models: "
        + ", ".join(f"{counters.get(k, 0)} {k}" for k in COUNTERS[4:]),
    ]
    if document.get("unwatched_folders"):
        lines.append(
            f"{document['unwatched_folders']} folders beyond the inotify watch limit, polled "
            "(raise fs.inotify.max_user_watches)"
        )
    last = document.get("last_archive")
    if last:
        lines.append(
            f"last archive: {last.get('timestamp')} ({last.get('run_id')}) at {last.get('at')}"
        )
    error = document.get("last_error")
    if error:
        lines.append(
            f"last error: {error.get('event')}: {error.get('message')} at {error.get('at')}"
        )
    # status.json is a file anyone with the right may edit: no line is a terminal's escape.
    return "\n".join(visible(line) for line in lines) + "\n"


# --- the imperative shell --------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one we may not signal too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def health_now(
    archive_dir: Path,
    services: Sequence[Mapping[str, Any]] | None = None,
    unlisted: str | None = None,
) -> tuple[dict[str, Any] | None, Health]:
    """The archive's status.json and what it says now, with a shared archive's ``services``
    (see assess_status), or why they could not be ``unlisted``: then healthy is failing
    (no service archives into a database it cannot reach), and with no service on this
    host that is the reason it is not running (not "no status.json": another host's may
    run). A stale one on a disk with no room says so."""
    document = read_status(archive_dir)
    health = assess_status(
        document, time.time(), pid_alive, socket.gethostname(), services=services,
        full=lambda: no_room(archive_dir, _FULL_BELOW),
    )  # fmt: skip
    if unlisted is not None and health.healthy:  # it runs, but cannot archive now
        health = Health("failing", EXIT_UNHEALTHY, unlisted, health.age_seconds)
    elif unlisted is not None and document is None:
        reason = f"no service's status.json on this host; {unlisted}"
        health = Health(health.state, health.exit_code, reason)
    return document, health


def read_status(archive_dir: Path) -> dict[str, Any] | None:
    """The status.json of the archive; None when absent, unreadable or not of the shape
    the service writes (half a file never; a FIFO or /dev/zero never blocks or fills)."""
    try:
        document = json.loads(read_regular(archive_dir / STATUS_NAME, _STATUS_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    return document if is_status_document(document) else None


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "pid": int, "host": str, "started": str, "updated": str, "uptime_seconds": (int, float),
    "state": str, "queue_depth": int, "unwatched_folders": int, "counters": dict,
    "last_archive": (dict, type(None)), "last_error": (dict, type(None)),
}  # fmt: skip


def is_status_document(document: object) -> bool:
    """Whether ``document`` has every field status_document writes, each of its type (the
    status page, /health and /metrics read them: a hand-made file is not the service's)."""
    if not isinstance(document, dict):
        return False
    for name, kind in _FIELD_TYPES.items():
        value = document.get(name)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            return False
        if kind is int and value not in _COUNTABLE:
            return False
    if not 0 < document["pid"] <= _PID_MAX:  # os.kill(-1, 0) signals every process
        return False
    uptime = document["uptime_seconds"]
    if isinstance(uptime, float) and not math.isfinite(uptime):  # /health served NaN
        return False
    failing = document.get("archive_failing_since")  # absent from an older service's
    if failing is not None and not isinstance(failing, str):
        return False
    error = document["last_error"]
    if error is not None and not all(isinstance(error.get(k), str) for k in ("event", "message")):
        return False
    counters = document["counters"]
    return all(type(counters.get(n)) is int and counters[n] in _COUNTABLE for n in COUNTERS)


# What a count of ours can be: a float holds it exactly (/metrics) and os.kill takes it.
_COUNTABLE = range(2**53)
_PID_MAX = 2**22  # Linux's largest pid_max


def write_status(archive_dir: Path, document: Mapping[str, Any]) -> None:
    """Replace status.json atomically: a temp file in the same folder, then a rename (the
    temp file is removed if the rename fails: a folder under the name, say)."""
    temp = archive_dir / f".{STATUS_NAME}.{os.getpid()}.tmp"
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    # A file name's bytes that are not UTF-8 as \udcXX (raw, they ended the service).
    replace_small(archive_dir / STATUS_NAME, text.encode("utf-8", "backslashreplace"), temp)
