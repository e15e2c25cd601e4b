"""`gatewatch serve` as a process: where it refuses to listen, and that it answers."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from gating import TrainingArchiveManager
from tests.web.served import serving, write_config


def serve_refused(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `gatewatch serve` expecting it to exit at once."""
    return subprocess.run(
        [*gatewatch_command(), "serve", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.timeout(60)
def test_beyond_loopback_without_a_token_is_refused(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """--host 0.0.0.0 without a token: exit 2 and one line, no traceback."""
    config = write_config(tmp_path, archive.archive_dir, token_env="GATEWATCH_UNSET_FOR_TEST")
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        done = serve_refused(config, "--host", host)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith(f"gatewatch: serve: refusing to listen on {host}")
    bad_port = serve_refused(config, "--port", "70000")
    assert bad_port.returncode == 2
    assert bad_port.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_serve_answers_and_logs_json(tmp_path: Path, archive: TrainingArchiveManager) -> None:
    """The process answers the API and logs web_started as a JSON line."""
    config = write_config(tmp_path, archive.archive_dir)
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base, urllib.request.urlopen(base + "/api/runs") as answer:
        assert len(json.loads(answer.read())) == 2
    first = json.loads(log.read_text("utf-8").splitlines()[0])
    assert first["event"] == "web_started"
    assert first["writable"] is False
