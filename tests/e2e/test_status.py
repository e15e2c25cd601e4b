"""The real service keeps status.json up to date and `gatewatch status` reads it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks.common import gatewatch_command
from daemon.status import read_status
from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until


def status_command(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    """Run `gatewatch status --json` on the daemon's config; (exit status, document)."""
    done = subprocess.run(
        [*gatewatch_command(), "status", "--json", "--config", str(daemon.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.timeout(60)
def test_status_json_follows_the_service(daemon_factory: Callable[..., Daemon]) -> None:
    """Ready and healthy while running, counting an archived file; stopped after SIGTERM."""
    daemon = daemon_factory().start()
    wait_until(
        lambda: (read_status(daemon.archive) or {}).get("state") == "ready", 10, "state ready"
    )
    status, document = status_command(daemon)
    assert status == 0, document
    assert document["healthy"] is True
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    daemon.wait_for_event("run_archived")
    wait_until(
        lambda: (read_status(daemon.archive) or {}).get("counters", {}).get("archived") == 1,
        10,
        "archived counter",
    )
    written = read_status(daemon.archive)
    assert written is not None
    assert written["last_archive"]["run_id"] == "a"
    assert written["counters"]["approved"] == 1
    assert daemon.stop()[0] == 0
    status, document = status_command(daemon)
    assert status == 3
    assert document["status"]["state"] == "stopped"
