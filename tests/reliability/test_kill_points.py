"""The daemon killed between each write, fsync and rename of one archive operation."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(60)

ARCHIVE_POINTS = [
    "write:summary.json:written",
    "write:model_assessments.json:written",
    "write:recommendations.md:written",
    "archive:staged",
    "archive:published",
    "archive:committed",
    "archive:cataloged",
]


@pytest.mark.parametrize("point", ARCHIVE_POINTS)
def test_kill_during_archive_then_restart(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """Killed at ``point`` while archiving; after a restart the run is there exactly once."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start()
    daemon.wait_for_event("run_archived", run_id="first")
    daemon.stop()
    daemon.start(env={"GATEWATCH_CRASH_AT": point}, wait_ready=False)
    (daemon.inbox / "second_summary.json").write_bytes(summary_bytes("second"))
    assert daemon.process is not None
    assert daemon.process.wait(timeout=20) == 86  # the hook ended it at the point
    daemon.start()
    wait_until(lambda: len(daemon.run_folders()) == 2, 15, "the second run after restart")
    status, _ = daemon.stop()
    assert status == 0
    assert_consistent(daemon.archive, ["first", "second"])


@pytest.mark.parametrize(
    "point", ["write:recommendations.md:written", "archive:staged", "archive:published"]
)
def test_kill_during_group_commit_then_restart(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """Killed inside the group commit of a backlog; after a restart each file is there once."""
    daemon = daemon_factory()
    names = [f"backlog{i}" for i in range(4)]
    an_hour_ago = time.time() - 3600  # due at once: the four go into one group
    for name in names:
        path = daemon.inbox / f"{name}_summary.json"
        path.write_bytes(summary_bytes(name))
        os.utime(path, (an_hour_ago, an_hour_ago))
    daemon.start(env={"GATEWATCH_CRASH_AT": point}, wait_ready=False)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=20) == 86
    daemon.start()
    wait_until(lambda: len(daemon.run_folders()) == 4, 15, "the backlog after restart")
    status, _ = daemon.stop()
    assert status == 0
    assert_consistent(daemon.archive, names)


@pytest.mark.parametrize(
    "point", ["compact:index_written", "write:index.json:synced", "write:index.json:renamed"]
)
def test_kill_during_compaction_then_restart(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """Killed while compacting on shutdown; the index stays readable and complete."""
    daemon = daemon_factory()
    daemon.start(env={"GATEWATCH_CRASH_AT": point})
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived")
    status, _ = daemon.stop()
    assert status == 86
    runs = daemon.archive / "index.json"
    if runs.exists():
        json.loads(runs.read_text("utf-8"))
    daemon.start()
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a"])
