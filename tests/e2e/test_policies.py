"""End-to-end: SIGHUP brings a [gating.champion] table to the running service."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import make_model
from tests.process import Daemon

pytestmark = pytest.mark.timeout(60)


def drop(daemon: Daemon, name: str, fitness: float) -> None:
    """Rename a one-model (AAPL) summary into the watched folder."""
    data = json.dumps({"run_id": name, "models": {"AAPL": make_model(fitness)}}).encode()
    temp = daemon.inbox / f".{name}.tmp"
    temp.write_bytes(data)
    temp.rename(daemon.inbox / f"{name}_summary.json")


def test_sighup_reloads_the_champion_table(daemon_factory: Callable[..., Daemon]) -> None:
    """Without a table 0.85 after 0.90 is APPROVED; after SIGHUP with one, 0.80 is REVIEW."""
    daemon = daemon_factory().start()
    drop(daemon, "a", 0.90)
    drop(daemon, "b", 0.85)
    daemon.wait_for_event("run_archived", count=2)
    assert [e["approved"] for e in daemon.events("run_archived")] == [1, 1]

    config = {"watch": {"paths": ["in"], "settle_seconds": 0.5}, "archive": {"dir": "archive"}}
    daemon.write_config({**config, "gating": {"champion": {"fitness": 0.02}}})
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_event("config_reloaded")
    drop(daemon, "c", 0.80)  # 5.9% below b's 0.85
    daemon.wait_for_event("run_archived", count=3)
    third = daemon.events("run_archived")[2]
    assert (third["approved"], third["review"]) == (0, 1)
    record = json.loads(
        (Path(daemon.archive) / third["timestamp"] / "model_assessments.json").read_text("utf-8")
    )
    (model,) = record["models"]
    assert model["flags"] == ["BELOW_CHAMPION"]
    assert model["champion"]["timestamp"] == daemon.events("run_archived")[1]["timestamp"]
