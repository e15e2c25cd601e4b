"""End-to-end notifications: the real `gatewatch run` process, a real webhook on loopback."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.receiver import Receiver
from daemon.cli import main
from gating import TrainingArchiveManager
from gating.events import run_events
from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until

pytestmark = pytest.mark.timeout(90)

DaemonFactory = Callable[..., Daemon]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, stopped at the end."""
    r = Receiver().start()
    yield r
    r.stop()


def notifying(factory: DaemonFactory, receiver: Receiver, **notify: Any) -> Daemon:
    """A daemon whose [notify] sends every event to ``receiver`` as JSON (quick retries)."""
    table = {
        "webhooks": [{"url": receiver.url, "name": "hook"}],
        "backoff_initial_seconds": 0.1,
        "backoff_max_seconds": 0.5,
        **notify,
    }
    return factory(notify=table)


def drop(daemon: Daemon, name: str, data: bytes) -> float:
    """Write a summary the careful way (temp + rename); return when it was renamed in."""
    temp = daemon.inbox / f".{name}.tmp"
    temp.write_bytes(data)
    temp.rename(daemon.inbox / name)
    return time.monotonic()


def expected_ids(daemon: Daemon) -> list[str]:
    """The ids of every archived run's events, computed from the run folders."""
    manager = TrainingArchiveManager(daemon.archive)
    return [
        e["id"]
        for folder in daemon.run_folders()
        for e in run_events(manager.reader.get_run(folder.name))
    ]


def test_a_dropped_summary_reaches_the_webhook_within_a_second(
    daemon_factory: DaemonFactory, receiver: Receiver
) -> None:
    """Drop a summary: its run_archived event arrives within a second, the others follow."""
    daemon = notifying(daemon_factory, receiver).start()
    dropped = drop(daemon, "a_summary.json", summary_bytes("fast", 3))
    wait_until(lambda: receiver.requests, 5, "the first event")
    latency = receiver.requests[0].arrived - dropped
    assert receiver.requests[0].event["type"] == "run_archived"
    assert latency < 1.0, f"{latency:.3f} s"
    wait_until(lambda: len(receiver.requests) >= 4, 5, "every event of the run")
    assert receiver.ids() == expected_ids(daemon)
    assert daemon.events("notify_started")[0]["targets"][0]["destination"].startswith("http://")
    assert daemon.stop()[0] == 0


def test_sigkill_between_commit_and_delivery_then_restart(
    daemon_factory: DaemonFactory, receiver: Receiver
) -> None:
    """The run is archived, its delivery hangs, the service is SIGKILLed; after a restart
    every event arrives with the ids computed from the run."""
    receiver.hang.set()
    daemon = notifying(daemon_factory, receiver).start()
    drop(daemon, "k_summary.json", summary_bytes("killed", 3))
    daemon.wait_for_event("run_archived")
    wait_until(lambda: receiver.hung, 10, "the delivery to hang")
    daemon.kill()
    assert receiver.requests == []
    receiver.hang.clear()
    receiver.release.set()
    daemon.start()
    expected = expected_ids(daemon)
    wait_until(lambda: set(expected) <= set(receiver.ids()), 15, "every event after restart")
    assert receiver.ids()[: len(expected)] == expected
    assert daemon.stop()[0] == 0


@pytest.mark.parametrize("point", ["archive:committed", "outbox:appended"])
def test_crash_after_the_rename_or_the_outbox_write_loses_no_event(
    daemon_factory: DaemonFactory, receiver: Receiver, point: str
) -> None:
    """The process dies right after the run's rename (events not yet written) or right after
    the outbox write; after a restart each event is delivered, with the same ids."""
    daemon = notifying(daemon_factory, receiver)
    (daemon.inbox / "c_summary.json").write_bytes(summary_bytes("crash", 3))
    daemon.start(env={"GATEWATCH_CRASH_AT": point}, wait_ready=False)
    process = daemon.process
    assert process is not None
    assert wait_until(lambda: process.poll() is not None, 15, "the crash") is not None
    assert process.returncode == 86
    assert len(daemon.run_folders()) == 1
    daemon.start()
    expected = expected_ids(daemon)
    assert len(expected) == 4
    wait_until(lambda: set(expected) <= set(receiver.ids()), 15, "every event after restart")
    assert sorted(set(receiver.ids())) == sorted(expected)
    assert daemon.stop()[0] == 0


def test_a_rejected_file_is_notified(daemon_factory: DaemonFactory, receiver: Receiver) -> None:
    """file_rejected carries the path and the reason."""
    daemon = notifying(daemon_factory, receiver, webhooks=[{"url": receiver.url}]).start()
    drop(daemon, "bad_summary.json", b'{"models": {"A": {"fitness": 0.5}}}')
    wait_until(lambda: receiver.requests, 10, "file_rejected")
    [event] = receiver.events()
    assert event["type"] == "file_rejected"
    assert event["data"]["source"].endswith("bad_summary.json")
    assert "models.A.profit_factor: missing" in event["data"]["reason"]


def test_cli_archive_waits_in_the_outbox_until_the_service_delivers(
    daemon_factory: DaemonFactory, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no service running, events wait (notify status shows them pending); the service
    delivers them when it starts; notify status then shows them delivered."""
    daemon = notifying(daemon_factory, receiver, webhooks=[{"url": receiver.url, "name": "hook"}])
    summary = daemon.root / "x_summary.json"
    summary.write_bytes(summary_bytes("by-hand", 3))
    config = ["--config", str(daemon.config_path)]
    assert main(["archive", str(summary), *config]) == 0
    capsys.readouterr()
    assert main(["notify", "status", "--json", *config]) == 0
    [row] = json.loads(capsys.readouterr().out)["targets"]
    assert (row["target"], row["pending"], row["delivered"]) == ("hook", 4, 0)
    daemon.start()
    wait_until(lambda: len(receiver.requests) >= 4, 10, "the waiting events")
    assert receiver.ids() == expected_ids(daemon)

    def drained() -> bool:
        main(["notify", "status", "--json", *config])
        document = json.loads(capsys.readouterr().out)
        return bool(document["outbox"] == {"segments": 0, "bytes": 0})

    wait_until(drained, 10, "an empty outbox")
    assert main(["notify", "status", *config]) == 0
    out = capsys.readouterr().out
    assert "hook" in out
    assert "outbox: 0 segments, 0 bytes" in out
    assert daemon.stop()[0] == 0


def test_notify_test_sends_a_sample_to_every_target(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """notify test prints one result per target and exits 1 when one failed."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[notify.webhooks]]\nurl = "{receiver.url}"\nname = "up"\nformat = "slack"\n'
        '[[notify.webhooks]]\nurl = "http://127.0.0.1:9/closed"\nname = "down"\n'
        "[notify]\ntimeout_seconds = 2\n",
        "utf-8",
    )
    assert main(["notify", "test", "--event", "review_needed", "--config", str(config)]) == 1
    up, down = capsys.readouterr().out.splitlines()
    assert up.startswith("up (webhook http://127.0.0.1:")
    assert ": delivered: HTTP 200" in up
    assert down.startswith("down (webhook http://127.0.0.1:9): FAILED: ")
    [request] = receiver.requests
    assert "needs review (test)" in json.loads(request.body)["text"]


def test_notify_test_with_an_unknown_event_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--event takes only the six types: exit 2."""
    with pytest.raises(SystemExit) as caught:
        main(["notify", "test", "--event", "nope", "--config", str(tmp_path / "none.toml")])
    assert caught.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_sigterm_exits_promptly_while_a_delivery_hangs(
    daemon_factory: DaemonFactory, receiver: Receiver
) -> None:
    """A receiver that never answers does not hold up the service's stop."""
    receiver.hang.set()
    daemon = notifying(daemon_factory, receiver, timeout_seconds=30).start()
    drop(daemon, "h_summary.json", summary_bytes("hang"))
    wait_until(lambda: receiver.hung, 10, "the delivery to hang")
    status, took = daemon.stop(signal.SIGTERM)
    assert status == 0
    assert took < 3.0
