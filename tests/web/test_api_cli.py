"""The JSON API serves exactly what the CLI's --json prints for the same query."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from benchmarks.common import gatewatch_command
from gating import TrainingArchiveManager
from tests.web.conftest import HOSTILE, url_of


@pytest.fixture
def config_file(tmp_path: Path, archive: TrainingArchiveManager) -> Path:
    """A config.toml naming the fixture archive."""
    path = tmp_path / "config.toml"
    url = url_of(archive)
    shared = f'url = "{url}"\n' if url else ""
    path.write_text(f'[archive]\ndir = "{archive.archive_dir}"\n{shared}', "utf-8")
    return path


def cli(config_file: Path, *argv: str) -> tuple[int, str]:
    """Run the real `gatewatch ... --json`; return (exit status, stdout)."""
    done = subprocess.run(
        [*gatewatch_command(), "--config", str(config_file), *argv, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout


def same(client: TestClient, config_file: Path, url: str, *argv: str) -> Any:
    """Fetch ``url`` and run the CLI; both succeed with equal documents; return it."""
    status, out = cli(config_file, *argv)
    response = client.get(url)
    assert status == 0, (argv, out)
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.text) == json.loads(out)
    return json.loads(out)


def test_runs_history_approved_match_the_cli(
    client: TestClient, config_file: Path, archive: TrainingArchiveManager
) -> None:
    """runs, runs --last, history (slash and hostile symbols), approved [TIMESTAMP]."""
    runs = same(client, config_file, "/api/runs", "runs")
    assert len(runs) == 2
    assert same(client, config_file, "/api/runs?last=1", "runs", "--last", "1") == runs[-1:]
    history = same(client, config_file, "/api/history/BTC/USD", "history", "BTC/USD")
    assert [h["classification"] for h in history] == ["APPROVED", "REVIEW"]
    assert history[1]["profit_factor"] == float("inf")
    assert (
        same(
            client,
            config_file,
            "/api/history/BTC%2FUSD?last=1",
            "history",
            "BTC/USD",
            "--last",
            "1",
        )
        == history[-1:]
    )
    hostile = same(client, config_file, "/api/history/" + quote(HOSTILE), "history", HOSTILE)
    assert hostile[0]["classification"] == "DROP"
    assert same(client, config_file, "/api/history/NOPE", "history", "NOPE") == []
    assert same(client, config_file, "/api/approved", "approved") == []
    first = runs[0]["timestamp"]
    assert same(client, config_file, f"/api/approved?timestamp={first}", "approved", first) == [
        "BTC/USD"
    ]
    # A unique prefix and `latest` name a run as the CLI takes them (the API said 404).
    prefix = first[:-3]
    assert same(client, config_file, f"/api/approved?timestamp={prefix}", "approved", prefix) == [
        "BTC/USD"
    ]
    assert same(client, config_file, "/api/approved?timestamp=latest", "approved", "latest") == []


def test_an_ambiguous_prefix_is_a_400_as_the_cli_exits_2(
    client: TestClient, config_file: Path
) -> None:
    """A prefix of both runs: the CLI exits 2, the API answers 400, each naming both."""
    status, _ = cli(config_file, "approved", "20")
    response = client.get("/api/approved?timestamp=20")
    assert (status, response.status_code) == (2, 400)
    assert "matches several runs" in response.json()["error"]


@pytest.mark.parametrize(
    ("url", "argv"),
    [
        ("/api/runs", ["runs"]),  # streamed a page at a time
        ("/api/runs?last=2", ["runs", "--last", "2"]),
        ("/api/history/BTC%2FUSD", ["history", "BTC/USD"]),  # streamed
        ("/api/history/BTC%2FUSD?last=1", ["history", "BTC/USD", "--last", "1"]),
        ("/api/history/NOPE", ["history", "NOPE"]),  # an empty streamed list
        ("/api/review", ["review"]),  # streamed
        ("/api/review?last=1", ["review", "--last", "1"]),
    ],
)
def test_the_text_is_byte_for_byte_the_cli_output(
    client: TestClient, config_file: Path, url: str, argv: list[str]
) -> None:
    """A list's body, whole (streamed) or the newest N, is the CLI's stdout itself."""
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == cli(config_file, *argv)[1]


def test_a_bad_last_is_a_400_before_anything_is_streamed(client: TestClient) -> None:
    """?last=0 or ?last=x on a list is one JSON line naming the problem."""
    for url in ("/api/runs?last=0", "/api/review?last=x", "/api/history/BTC%2FUSD?last=-1"):
        response = client.get(url)
        assert response.status_code == 400
        assert response.json()["error"].startswith("last:")


def test_unknown_timestamp_fails_in_both(client: TestClient, config_file: Path) -> None:
    """An unknown run: the CLI exits 1, the API answers 404."""
    assert cli(config_file, "approved", "20000101T000000000000Z")[0] == 1
    assert client.get("/api/approved?timestamp=20000101T000000000000Z").status_code == 404


def test_decision_documents_match_the_cli(client: TestClient, config_file: Path) -> None:
    """review, deployable, deployable --at, audit (and audit SYMBOL) match the CLI."""
    review = same(client, config_file, "/api/review", "review")
    assert {item["symbol"] for item in review} >= {"AAPL", "BTC/USD"}
    deployable = same(client, config_file, "/api/deployable", "deployable")
    assert deployable["BTC/USD"]["verdict_by"] == "gate"
    first = json.loads(cli(config_file, "runs")[1])[0]["timestamp"]
    same(client, config_file, f"/api/deployable?at={first}", "deployable", "--at", first)
    assert same(client, config_file, "/api/audit", "audit") == []
    assert same(client, config_file, "/api/audit?symbol=AAPL", "audit", "AAPL") == []
