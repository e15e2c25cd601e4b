"""SIGTERM while another writer holds the archive for a long time still exits 0 quickly."""

from __future__ import annotations

import fcntl
import signal
import time
from collections.abc import Callable

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(60)


def test_sigterm_while_a_long_reindex_holds_the_lock(daemon_factory: Callable[..., Daemon]) -> None:
    """With the writer lock held (as a long CLI reindex would), SIGTERM exits 0 within 10 s."""
    daemon = daemon_factory().start()
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived")
    with (daemon.archive / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (daemon.inbox / "b_summary.json").write_bytes(summary_bytes("b"))
        time.sleep(1.0)  # let the worker block on the lock with file b in hand
        status, seconds = daemon.stop(signal.SIGTERM, timeout=15)
    assert status == 0
    assert seconds < 10
    daemon.start()  # the next start picks up b
    daemon.wait_for_event("run_archived", run_id="b")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a", "b"])


def test_sigterm_during_a_backlog_stops_after_the_file_in_hand(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """SIGTERM in the middle of a 400-file backlog exits 0 quickly; a restart does the rest."""
    daemon = daemon_factory()
    produced = [f"backlog-{i:03d}" for i in range(400)]
    for run_id in produced:
        (daemon.inbox / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))
    daemon.start()
    daemon.wait_for_event("run_archived", count=20, timeout=30)
    status, seconds = daemon.stop(signal.SIGTERM, timeout=15)
    assert status == 0
    assert seconds < 10
    archived_before_restart = len(daemon.run_folders())
    assert archived_before_restart < len(produced)
    assert not [p for p in daemon.archive.iterdir() if p.name.startswith(".staging")]
    daemon.start()
    daemon.wait_for_event("run_archived", count=len(produced), timeout=60)
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, produced)
