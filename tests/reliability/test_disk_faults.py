"""Disk faults (ENOSPC injected into the durable writes): nothing torn, retried later."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "point",
    [
        "write:summary.json:written",
        "write:model_assessments.json:synced",
        "write:recommendations.md:written",
    ],
)
def test_enospc_while_archiving_is_retried(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """The first two attempts fail with ENOSPC: no run, no staging, logged; the third lands."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start(env={"GATEWATCH_FAIL_AT": point, "GATEWATCH_FAIL_TIMES": "2"})
    failures = daemon.wait_for_event("archive_failed", count=1)
    assert "No space left on device" in failures[0]["reason"]
    assert daemon.run_folders() == []
    assert not [p for p in daemon.archive.iterdir() if p.name.startswith(".staging")]
    daemon.wait_for_event("run_archived", run_id="first", timeout=20)
    assert len(daemon.events("archive_failed")) == 2
    (daemon.inbox / "second_summary.json").write_bytes(summary_bytes("second"))
    daemon.wait_for_event("run_archived", run_id="second")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["first", "second"])


def test_enospc_on_the_journal_keeps_the_run_and_indexes_it_later(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """A run whose journal line cannot be written is still committed and indexed later."""
    daemon = daemon_factory()
    daemon.start(env={"GATEWATCH_FAIL_AT": "append:*", "GATEWATCH_FAIL_TIMES": "1"})
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived", run_id="a")
    (daemon.inbox / "b_summary.json").write_bytes(summary_bytes("b"))
    daemon.wait_for_event("run_archived", run_id="b")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a", "b"])


def test_enospc_while_compacting_keeps_the_old_index(daemon_factory: Callable[..., Daemon]) -> None:
    """A compaction that cannot write index.json logs it; the old index and journal stand."""
    daemon = daemon_factory()
    daemon.start(env={"GATEWATCH_FAIL_AT": "write:index.json:written"})
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived", run_id="a")
    status, _ = daemon.stop()
    assert status == 0
    (failed,) = daemon.events("compact_failed")
    assert "No space left" in failed["error"]
    assert not (daemon.archive / "index.json").exists()
    journal = (daemon.archive / "index.journal.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["run_id"] for line in journal] == ["a"]
    daemon.start()
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a"])
