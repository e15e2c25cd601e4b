"""A decision from the command line reaches the webhook through the running service."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from benchmarks.common import gatewatch_command
from benchmarks.receiver import Receiver
from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, stopped at the end."""
    r = Receiver().start()
    yield r
    r.stop()


def test_a_cli_decision_is_delivered_by_the_service(
    daemon_factory: Callable[..., Daemon], receiver: Receiver
) -> None:
    """`gatewatch decide` writes its events to the outbox; the service sends them, once each."""
    daemon = daemon_factory(
        notify={"webhooks": [{"url": receiver.url, "name": "hook"}],
                "backoff_initial_seconds": 0.1, "backoff_max_seconds": 0.5},
    ).start()  # fmt: skip
    (daemon.inbox / "a_summary.json").write_bytes(summary_bytes("a"))
    wait_until(lambda: len(receiver.requests) >= 4, 10, "the run's events")
    decided = subprocess.run(
        [*gatewatch_command(), "--config", str(daemon.config_path), "decide", "latest", "SYM1",
         "approve", "--reason", "looked at it", "--by", "ann"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    wait_until(lambda: len(receiver.requests) >= 6, 10, "the decision's events")
    approved, changed = receiver.events()[4:6]
    assert (approved["type"], changed["type"]) == ("model_approved", "champion_changed")
    assert (approved["data"]["symbol"], approved["data"]["by"]) == ("SYM1", "ann")
    assert approved["data"]["reason"] == "looked at it"
    assert changed["data"]["champion"] == daemon.run_folders()[0].name
    assert len(set(receiver.ids())) == len(receiver.ids()) == 6
    assert daemon.stop()[0] == 0
