"""Where things live in an archive folder, and the run timestamps that name run folders."""

from __future__ import annotations

import calendar
import itertools
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gating.errors import ArchiveError

__all__ = [
    "CATALOG_NAME",
    "DECISIONS_DIR",
    "FRESH_PREFIX",
    "INDEX_NAME",
    "LEGACY_JOURNAL_NAME",
    "LOCK_NAME",
    "RECORD_NAME",
    "REJECTED_DIR",
    "RUN_FILES",
    "RUN_FILE_MAX",
    "STAGING_PREFIX",
    "Layout",
    "Stamper",
    "fresh_name",
    "is_timestamp",
    "stamps_after",
    "ts_from_micros",
    "ts_micros",
]

INDEX_NAME = "index.json"
CATALOG_NAME = "catalog.sqlite3"
LEGACY_JOURNAL_NAME = "index.journal.jsonl"  # archives made before the catalog had one
REJECTED_DIR = "_rejected"
DECISIONS_DIR = "decisions"
LOCK_NAME = ".lock"
RECORD_NAME = "model_assessments.json"  # a run's record: what index entries are made from
RUN_FILES = ("summary.json", RECORD_NAME, "recommendations.md")
RUN_FILE_MAX = 1 << 30  # a run's record or summary is read whole; never more than this
STAGING_PREFIX = ".staging-"
FRESH_PREFIX = ".catalog-rebuild."  # + the builder's pid, "-", a number, ".tmp"
_FRESH_NUMBERS = itertools.count(1)
# Years 1970-9999, months 01-12, days 01-31, hours 00-23, minutes and seconds 00-59: a name
# of the form that is no moment (20261399T999999999999Z) is not a run's (it crashed the
# stamper); is_timestamp looks at days 29-31 further.
_TIMESTAMP = re.compile(
    r"(?:19[7-9]\d|[2-9]\d{3})(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3])[0-5]\d[0-5]\d\d{6}Z"
)
# Each month's last day in a leap year, as text: "02" -> "29".
_LAST_DAY = {f"{month:02d}": str(calendar.monthrange(2024, month)[1]) for month in range(1, 13)}


def fresh_name() -> str:
    """A new name for a fresh catalog file that this process builds: the prefix, its pid,
    a number of its own, ``.tmp`` (litter once nobody holds its flock)."""
    return f"{FRESH_PREFIX}{os.getpid()}-{next(_FRESH_NUMBERS)}.tmp"


def is_timestamp(name: str) -> bool:
    """Whether a name is a run timestamp (YYYYMMDDTHHMMSSffffffZ) of a real moment."""
    if _TIMESTAMP.fullmatch(name) is None:  # as cheap as the form alone: a million are listed
        return False
    day = name[6:8]
    if day <= "28":
        return True
    if day > _LAST_DAY[name[4:6]]:
        return False
    return name[4:8] != "0229" or calendar.isleap(int(name[:4]))


def ts_micros(timestamp: str) -> int:
    """Microseconds since the epoch of a YYYYMMDDTHHMMSSffffffZ timestamp."""
    t = timestamp
    moment = datetime(
        int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]), int(t[13:15]), tzinfo=UTC
    )
    return int(moment.timestamp()) * 1_000_000 + int(t[15:21])


def ts_from_micros(micros: int) -> str:
    """The timestamp text of a moment given in microseconds since the epoch."""
    seconds, micro = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)  # strftime's %Y gives year 999 three digits
    return f"{moment.year:04d}{moment:%m%dT%H%M%S}{micro:06d}Z"


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one archive folder."""

    root: Path

    def identity(self) -> tuple[int, int] | None:
        """The archive folder's (device, inode), or None when there is no folder there."""
        try:
            found = os.stat(self.root)
        except OSError:
            return None
        return (found.st_dev, found.st_ino) if stat.S_ISDIR(found.st_mode) else None

    @property
    def index(self) -> Path:
        """index.json, the portable master index."""
        return self.root / INDEX_NAME

    @property
    def catalog(self) -> Path:
        """The SQLite query catalog (derived data)."""
        return self.root / CATALOG_NAME

    @property
    def legacy_journal(self) -> Path:
        """The index journal of archives made before the catalog."""
        return self.root / LEGACY_JOURNAL_NAME

    @property
    def rejected(self) -> Path:
        """Where rejected files and their reasons are kept."""
        return self.root / REJECTED_DIR

    @property
    def decisions(self) -> Path:
        """Where review decisions are kept (primary data)."""
        return self.root / DECISIONS_DIR

    @property
    def lock(self) -> Path:
        """The writers' lock file."""
        return self.root / LOCK_NAME

    def run(self, timestamp: str) -> Path:
        """A run's folder."""
        return self.root / timestamp

    def record(self, timestamp: str) -> str:
        """A run's model_assessments.json (a str: a rebuild names a million of them)."""
        return os.path.join(self.root, timestamp, RECORD_NAME)

    def staging(self, timestamp: str) -> Path:
        """Where a run's folder is built before the rename that publishes it."""
        return self.root / f"{STAGING_PREFIX}{timestamp}"

    def entries(self) -> Iterator[os.DirEntry[str]]:
        """Every entry of the archive folder, streamed (none if it does not exist)."""
        try:
            with os.scandir(self.root) as entries:
                yield from entries
        except FileNotFoundError:
            return

    def run_names(self) -> Iterator[str]:
        """The names of the run folders, in no particular order, streamed."""
        return (entry.name for entry in self.entries() if is_timestamp(entry.name))

    def holds_no_run(self) -> bool:
        """Whether the folder holds no run folder (it may not exist)."""
        return next(self.run_names(), None) is None


class Stamper:
    """Hands out run timestamps that strictly increase, whatever the wall clock does."""

    def __init__(self) -> None:
        self._last = 0  # microseconds of the last timestamp handed out

    def next(self, floor: str | None) -> str:
        """A timestamp after ``floor`` (the newest run on disk) and after every one before."""
        stamp = stamps_after(floor, max(time.time_ns() // 1000, self._last + 1), 1)[0]
        self._last = ts_micros(stamp)
        return stamp


def stamps_after(floor: str | None, now_micros: int, count: int) -> list[str]:
    """``count`` run timestamps, one a microsecond, from ``now_micros`` or just after
    ``floor`` (the newest run) if that is later. ArchiveError when none is left: ``floor``
    is not a timestamp (a row written by hand) or the runs would pass 9999-12-31."""
    micros = now_micros
    if floor is not None:
        if not is_timestamp(floor):
            raise ArchiveError(
                f"the newest run's timestamp {floor!r} is not a run timestamp: no run can be "
                "stamped after it until that run is removed"
            )
        micros = max(micros, ts_micros(floor) + 1)
    try:
        return [ts_from_micros(micros + offset) for offset in range(count)]
    except (ValueError, OverflowError):  # past 9999-12-31: a planted run at its end
        raise ArchiveError(f"no run timestamp is left after the newest run {floor}") from None
