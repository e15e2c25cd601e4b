"""`gatewatch decide` killed at each write step; the service's start indexes what is whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from benchmarks.common import gatewatch_command
from tests.conftest import summary_bytes
from tests.process import Daemon

pytestmark = pytest.mark.timeout(90)

# (point, whether the decision survives being killed there)
DECIDE_POINTS = [
    ("decision:checked", False),
    ("write:*.json:written", False),
    ("write:*.json:synced", False),
    ("write:*.json:renamed", True),
    ("decision:written", True),
    ("decision:emitted", True),
    ("decision:indexed", True),
]


def cli(
    daemon: Daemon, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One gatewatch command on the daemon's config (through the fault launcher if armed)."""
    command = [sys.executable, "-m", "tests.launcher"] if env else gatewatch_command()
    return subprocess.run(
        [*command, "--config", str(daemon.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(("point", "kept"), DECIDE_POINTS)
def test_kill_during_decide_then_restart(
    daemon_factory: Callable[..., Daemon], point: str, kept: bool
) -> None:
    """Killed at ``point``: the decision is whole or absent, and after a restart it is indexed."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start()
    daemon.wait_for_event("run_archived", run_id="first")
    assert daemon.stop()[0] == 0
    died = cli(daemon, "decide", "latest", "SYM1", "approve", "--reason", "ok", "--by", "ann",
               env={"GATEWATCH_CRASH_AT": point})  # fmt: skip
    assert died.returncode == 86, died.stderr
    files = sorted((daemon.archive / "decisions").glob("[0-9]*.json"))
    assert len(files) == (1 if kept else 0)
    daemon.start()  # recovery at start: temp files gone, a whole decision indexed
    assert daemon.stop()[0] == 0
    left = sorted((daemon.archive / "decisions").glob("*")) + sorted(
        (daemon.archive / "decisions").glob(".*")
    )
    assert [p.name for p in left] == [p.name for p in files]  # no temp file left
    audit = json.loads(cli(daemon, "audit", "--json").stdout)
    assert [(a["symbol"], a["verdict"], a["by"]) for a in audit] == [("SYM1", "APPROVED", "ann")][
        : len(files)
    ]
    deployable = json.loads(cli(daemon, "deployable", "--json").stdout)
    assert ("SYM1" in deployable) is kept


@pytest.mark.parametrize("point", ["decision:written", "decision:emitted"])
def test_a_decision_left_unindexed_is_indexed_by_the_running_service(
    daemon_factory: Callable[..., Daemon], point: str
) -> None:
    """decide killed between its file and the catalog: the running service indexes it soon."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start()
    try:
        daemon.wait_for_event("run_archived", run_id="first")
        died = cli(daemon, "decide", "latest", "SYM1", "drop", "--reason", "no", "--by", "ann",
                   env={"GATEWATCH_CRASH_AT": point})  # fmt: skip
        assert died.returncode == 86, died.stderr
        (indexed,) = daemon.wait_for_event("decisions_indexed", timeout=15)
        assert indexed["decisions"] == 1
        audit = json.loads(cli(daemon, "audit", "--json").stdout)
        assert [(a["symbol"], a["verdict"], a["by"]) for a in audit] == [("SYM1", "DROP", "ann")]
    finally:
        assert daemon.stop()[0] == 0


@pytest.mark.parametrize(
    ("point", "status", "kept"),
    [
        ("write:*.json:synced", 1, False),  # the file itself could not be written
        ("decision:written", 1, False),  # written, but its events could not be: withdrawn
        ("decision:emitted", 0, True),  # file and events durable, the catalog full: made
    ],
)
def test_a_full_disk_never_both_fails_and_applies_a_decision(
    daemon_factory: Callable[..., Daemon], point: str, status: int, kept: bool
) -> None:
    """ENOSPC at each step of decide: a reported failure leaves no decision, after restarts too."""
    daemon = daemon_factory()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.start()
    daemon.wait_for_event("run_archived", run_id="first")
    assert daemon.stop()[0] == 0
    result = cli(daemon, "decide", "latest", "SYM1", "drop", "--reason", "no", "--by", "ann",
                 env={"GATEWATCH_FAIL_AT": point})  # fmt: skip
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert ("the decision is kept, but the catalog could not take it" in result.stderr) is kept
    daemon.start()  # the restart that used to apply a decision reported as failed
    assert daemon.stop()[0] == 0
    audit = json.loads(cli(daemon, "audit", "--json").stdout)
    assert [(a["symbol"], a["verdict"]) for a in audit] == ([("SYM1", "DROP")] if kept else [])
    assert len(list((daemon.archive / "decisions").glob("[0-9]*.json"))) == (1 if kept else 0)
