"""CLI writers and readers against a running daemon: nothing missing, nothing doubled."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable

import pytest

from benchmarks.common import gatewatch_command
from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(120)


def cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one gatewatch command against the daemon's config."""
    return subprocess.run(
        [*gatewatch_command(), "--config", str(daemon.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_writers_and_readers_while_the_daemon_runs(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """archive/reindex/compact from the CLI interleave with the daemon; readers stay exact."""
    daemon = daemon_factory().start()
    files = daemon.root / "by-hand"
    files.mkdir()
    for i in range(20):
        (files / f"hand-{i:02d}.json").write_bytes(summary_bytes(f"hand-{i:02d}"))
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        seen: set[str] = set()
        while not stop.is_set():
            result = cli(daemon, "runs", "--json")
            if result.returncode != 0:
                problems.append(result.stderr)
                continue
            stamps = [r["timestamp"] for r in json.loads(result.stdout)]
            if len(stamps) != len(set(stamps)):
                problems.append(f"doubled run in {stamps}")
            if not seen <= set(stamps):
                problems.append(f"run went missing: {sorted(seen - set(stamps))}")
            seen = set(stamps)
            reads += 1

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for i in range(20):
            (daemon.inbox / f"auto-{i:02d}_summary.json").write_bytes(
                summary_bytes(f"auto-{i:02d}")
            )
        archived = cli(daemon, "archive", *(str(p) for p in sorted(files.iterdir())))
        assert archived.returncode == 0, archived.stderr
        for command in ("compact", "reindex", "compact"):
            assert cli(daemon, command).returncode == 0
        daemon.wait_for_event("run_archived", count=20, timeout=30)
        assert cli(daemon, "compact").returncode == 0
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
    assert problems == []
    assert reads >= 4
    assert daemon.stop()[0] == 0
    produced = [f"auto-{i:02d}" for i in range(20)] + [f"hand-{i:02d}" for i in range(20)]
    assert_consistent(daemon.archive, produced)
