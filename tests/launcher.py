"""The tests' launcher: `python -m tests.launcher ARGS` is `gatewatch ARGS` with faults armed.

Reliability tests set GATEWATCH_CRASH_AT (end the process at a matching point, exit 86),
GATEWATCH_FAIL_AT (raise ENOSPC there), GATEWATCH_FAIL_TIMES (only that many times),
GATEWATCH_TEST_DROP_EVENTS (the service loses every watcher event) and
GATEWATCH_TEST_RETRY_SECONDS (how long a shared archive's transaction is retried while
PostgreSQL is away); this launcher turns them into the FaultyDisk the archive is built
with, a watcher sink that loses every event and the service's retry_seconds. Production
code never reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from daemon.cli import main
from daemon.watcher import WatchEvent
from tests.faulty_disk import FaultyDisk

FAULT_VARIABLES = (
    "GATEWATCH_CRASH_AT",
    "GATEWATCH_FAIL_AT",
    "GATEWATCH_FAIL_TIMES",
    "GATEWATCH_TEST_DROP_EVENTS",
    "GATEWATCH_TEST_RETRY_SECONDS",
)


def disk_from(environ: Mapping[str, str]) -> FaultyDisk:
    """The FaultyDisk that the environment's GATEWATCH_* variables ask for."""
    times = environ.get("GATEWATCH_FAIL_TIMES")
    return FaultyDisk(
        crash_at=environ.get("GATEWATCH_CRASH_AT"),
        fail_at=environ.get("GATEWATCH_FAIL_AT"),
        fail_times=None if times is None else int(times),
    )


def lose(_event: WatchEvent) -> None:
    """A watcher sink that loses every event, so only the service's scans find files."""


if __name__ == "__main__":
    sink = lose if os.environ.get("GATEWATCH_TEST_DROP_EVENTS") else None
    retry = os.environ.get("GATEWATCH_TEST_RETRY_SECONDS")
    sys.exit(
        main(
            sys.argv[1:],
            disk=disk_from(os.environ),
            watcher_sink=sink,
            retry_seconds=None if retry is None else float(retry),
        )
    )
