"""Disk faults (ENOSPC injected into the durable writes): nothing torn, retried later."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from daemon.status import epoch_of, read_status
from gating import TrainingArchiveManager
from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "point",
    [
        "write:summary.json:written",
        "archive:staged",
        "write:recommendations.md:written",
    ],
)
def test_enospc_while_archiving_is_retried(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """The first attempt fails with ENOSPC: no run, no staging, logged; the retry lands."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start(env={"GATEWATCH_FAIL_AT": point, "GATEWATCH_FAIL_TIMES": "1"})
    failures = daemon.wait_for_event("archive_failed", count=1)
    assert "No space left on device" in failures[0]["reason"]
    assert daemon.run_folders() == []
    assert not [p for p in daemon.archive.iterdir() if p.name.startswith(".staging")]
    daemon.wait_for_event("run_archived", run_id="first", timeout=20)  # retried after 5 s
    assert len(daemon.events("archive_failed")) == 1
    (daemon.inbox / "second_summary.json").write_bytes(summary_bytes("second"))
    daemon.wait_for_event("run_archived", run_id="second")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["first", "second"])


def test_status_says_since_when_archiving_fails(daemon_factory: Callable[..., Daemon]) -> None:
    """While every archive fails (ENOSPC), status.json says since when (over a minute of
    it is unhealthy); the retry that lands clears it."""
    daemon = daemon_factory()
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.start(env={"GATEWATCH_FAIL_AT": "archive:staged", "GATEWATCH_FAIL_TIMES": "1"})

    def failing_since() -> object:
        document = read_status(daemon.archive)
        return None if document is None else document.get("archive_failing_since", "absent")

    began = wait_until(failing_since, 10, "status.json to say archiving fails")
    assert epoch_of(began) is not None
    daemon.wait_for_event("run_archived", run_id="a", timeout=20)
    wait_until(lambda: read_status(daemon.archive) and failing_since() is None, 10, "it cleared")
    assert daemon.stop()[0] == 0


def test_a_catalog_write_failure_holds_the_run_back_until_it_is_catalogued(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """A run the catalog could not take is not announced until a retry catalogues it."""
    daemon = daemon_factory()
    daemon.start(env={"GATEWATCH_FAIL_AT": "catalog:add", "GATEWATCH_FAIL_TIMES": "1"})
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    (failed,) = daemon.wait_for_event("archive_failed")
    assert "not yet in the catalog" in failed["reason"]
    assert not daemon.events("run_archived")
    daemon.wait_for_event("run_archived", run_id="a")
    assert len(daemon.run_folders()) == 1
    (daemon.inbox / "b_summary.json").write_bytes(summary_bytes("b"))
    daemon.wait_for_event("run_archived", run_id="b")
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a", "b"])


def test_enospc_while_compacting_keeps_the_old_index(daemon_factory: Callable[..., Daemon]) -> None:
    """A compaction that cannot write index.json logs it; the catalog still lists the run."""
    daemon = daemon_factory()
    daemon.start(env={"GATEWATCH_FAIL_AT": "write:index.json:written"})
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived", run_id="a")
    status, _ = daemon.stop()
    assert status == 0
    (failed,) = daemon.events("compact_failed")
    assert "No space left" in failed["error"]
    assert not (daemon.archive / "index.json").exists()
    assert [run["run_id"] for run in TrainingArchiveManager(daemon.archive).list_runs()] == ["a"]
    daemon.start()
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, ["a"])


def _no_room(limit: int) -> Callable[[], None]:
    """A child's set-up: no file it writes may grow past ``limit`` bytes (a full disk)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_query_on_a_full_disk_leaves_the_catalog_as_it_is(tmp_path: Path) -> None:
    """A read-only query whose catalog cannot grow its shared memory file (the disk full)
    fails in one line, and the catalog is kept (it was declared damaged, deleted and its
    rebuild failed: every later query failed until the disk had room, then rebuilt it)."""
    manager = TrainingArchiveManager(tmp_path / "archive")
    manager.archive_training_run(summary_bytes("kept"))
    manager.close()
    catalog = tmp_path / "archive" / "catalog.sqlite3"
    before = catalog.read_bytes()
    for suffix in ("-wal", "-shm"):  # as after a clean close: the query must make them
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    command = [*gatewatch_command(), "--config", str(config), "runs", "--json"]
    full = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=_no_room(1024),
    )  # fmt: skip
    assert full.returncode == 1
    assert full.stderr.count("\n") == 1
    assert "cannot be used now" in full.stderr
    assert catalog.read_bytes() == before
    after = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert [run["run_id"] for run in json.loads(after.stdout)] == ["kept"]
