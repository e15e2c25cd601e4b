"""End-to-end: what a new operator meets first (missing folders, a backlog at start)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import pytest

from benchmarks.common import gatewatch_command
from tests.conftest import summary_bytes
from tests.process import Daemon

pytestmark = pytest.mark.timeout(90)

DaemonFactory = Callable[..., Daemon]


def test_a_missing_watched_folder_is_named_never_created_and_watched_once_it_appears(
    daemon_factory: DaemonFactory,
) -> None:
    """config check and the service name a missing folder; it is watched when it appears."""
    daemon = daemon_factory(watch={"paths": ["in", "later/deeper"]}, schedule={"rescan_seconds": 1})
    missing = daemon.root / "later" / "deeper"
    check = subprocess.run(
        [*gatewatch_command(), "config", "check", "--config", str(daemon.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 0
    assert f"watch.paths: {missing} does not exist" in check.stderr
    daemon.start()
    daemon.wait_for_event("watch_path_missing", count=2, path=str(missing))  # and again
    assert not missing.exists()
    missing.mkdir(parents=True)
    (missing / "a_summary.json").write_bytes(summary_bytes("appeared"))
    daemon.wait_for_event("watch_path_appeared", path=str(missing))
    daemon.wait_for_event("run_archived", run_id="appeared", timeout=10)
    (missing / "b_summary.json").write_bytes(summary_bytes("watched"))
    daemon.wait_for_event("run_archived", run_id="watched", timeout=10)
    assert daemon.stop()[0] == 0


def test_a_file_dropped_during_a_backlog_is_archived_within_seconds(
    daemon_factory: DaemonFactory,
) -> None:
    """With a backlog and rescans due faster than they finish, a new file does not wait."""
    daemon = daemon_factory(schedule={"rescan_seconds": 0.05, "compact_seconds": 0.5})
    an_hour_ago = time.time() - 3600
    backlog = 1500
    for index in range(backlog):
        folder = daemon.inbox / f"job-{index // 10:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"{index:05d}_summary.json"
        path.write_bytes(summary_bytes(f"backlog-{index}"))
        os.utime(path, (an_hour_ago, an_hour_ago))
    daemon.start(wait_ready=False)
    daemon.wait_for_event("run_archived", count=100, timeout=60)
    (daemon.inbox / "new_summary.json").write_bytes(summary_bytes("new"))
    dropped = time.monotonic()
    daemon.wait_for_event("run_archived", run_id="new", timeout=10)
    waited = time.monotonic() - dropped
    archived = [e["run_id"] for e in daemon.events("run_archived")]
    assert len(archived) < backlog  # it did not wait for the backlog to be done
    assert waited < 5
    daemon.wait_for_event("run_archived", count=backlog + 1, timeout=60)
    assert daemon.stop()[0] == 0
