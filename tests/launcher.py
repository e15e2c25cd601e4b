"""The tests' launcher: `python -m tests.launcher ARGS` is `gatewatch ARGS` with faults armed.

Reliability tests set GATEWATCH_CRASH_AT (end the process at a matching point, exit 86),
GATEWATCH_FAIL_AT (raise ENOSPC there), GATEWATCH_FAIL_TIMES (only that many times) and
GATEWATCH_TEST_DROP_EVENTS (the service loses every watcher event);
this launcher turns them into the Faults object the archive is given. Production code
never reads them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from daemon.cli import main
from gating import Faults

FAULT_VARIABLES = (
    "GATEWATCH_CRASH_AT",
    "GATEWATCH_FAIL_AT",
    "GATEWATCH_FAIL_TIMES",
    "GATEWATCH_TEST_DROP_EVENTS",
)


def faults_from(environ: Mapping[str, str]) -> Faults:
    """The Faults that the environment's GATEWATCH_* variables ask for."""
    times = environ.get("GATEWATCH_FAIL_TIMES")
    return Faults(
        crash_at=environ.get("GATEWATCH_CRASH_AT"),
        fail_at=environ.get("GATEWATCH_FAIL_AT"),
        fail_times=None if times is None else int(times),
        lose_events=bool(environ.get("GATEWATCH_TEST_DROP_EVENTS")),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], faults=faults_from(os.environ)))
