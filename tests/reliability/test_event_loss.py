"""Lost events: the periodic rescan alone finds every file of a burst."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(90)

QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")


def test_rescan_catches_a_burst_when_every_event_is_lost(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """With all watcher events dropped (a test hook), the rescan archives the whole burst."""
    daemon = daemon_factory(schedule={"rescan_seconds": 1})
    daemon.start(env={"GATEWATCH_TEST_DROP_EVENTS": "1"})
    produced = [f"burst-{i:03d}" for i in range(100)]
    for run_id in produced:
        (daemon.inbox / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))
    daemon.wait_for_event("run_archived", count=len(produced), timeout=30)
    assert daemon.events("rescan_found")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, produced)


@pytest.mark.skipif(not os.access(QUEUE, os.W_OK), reason="needs a writable inotify queue size")
def test_inotify_queue_overflow_is_survived(daemon_factory: Callable[..., Daemon]) -> None:
    """With the kernel's inotify queue shrunk to 16 events, a burst of 300 is still archived."""
    original = QUEUE.read_text()
    QUEUE.write_text("16\n")
    try:
        daemon = daemon_factory(schedule={"rescan_seconds": 1})
        daemon.start()
    finally:
        QUEUE.write_text(original)  # the daemon's inotify instance keeps the small queue
    produced = [f"flood-{i:03d}" for i in range(300)]
    for run_id in produced:
        (daemon.inbox / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))
    daemon.wait_for_event("run_archived", count=len(produced), timeout=60)
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, produced)
