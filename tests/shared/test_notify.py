"""Notifications of a shared archive: two services, one webhook target; each event is
delivered once and in order while both run, and once more at most when the holder of
the target is killed (at-least-once, the same Idempotency-Key)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from benchmarks.common import gatewatch_command
from benchmarks.receiver import Receiver
from gating.shared.archive import SharedArchive
from tests.conftest import make_summary
from tests.process import Daemon, wait_until

pytestmark = pytest.mark.timeout(180)

DaemonFactory = Callable[..., Daemon]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, stopped at the end."""
    r = Receiver().start()
    yield r
    r.stop()


def host(factory: DaemonFactory, name: str, url: str, receiver: Receiver) -> Daemon:
    """A `gatewatch run` on the shared archive, notifying ``receiver`` of every event."""
    notify: dict[str, Any] = {
        "webhooks": [{"url": receiver.url, "name": "desk"}],
        "backoff_initial_seconds": 0.1,
        "backoff_max_seconds": 0.5,
    }
    return factory(name, archive={"dir": "archive", "url": url}, notify=notify)


def drop(folder: Path, names: list[str]) -> None:
    """Summaries dropped by rename."""
    for name in names:
        temp = folder / f".{name}.tmp"
        temp.write_text(json.dumps(make_summary(name)), "utf-8")
        temp.rename(folder / f"{name}_summary.json")


def database_ids(shared: SharedArchive) -> list[str]:
    """Every event id in the database's outbox, in commit order."""
    with shared.database.connection() as connection:
        rows = connection.execute("SELECT id FROM events ORDER BY position").fetchall()
    return [str(row[0]) for row in rows]


def test_two_services_deliver_every_event_once_in_order(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, receiver: Receiver
) -> None:
    """Both services archive; one holds the target: the receiver gets the database's
    events exactly once each, in commit order."""
    hosts = [host(daemon_factory, f"h{i}", pg_url, receiver) for i in (1, 2)]
    for daemon in hosts:
        daemon.start()
    drop(hosts[0].inbox, [f"a{i}" for i in range(15)])
    drop(hosts[1].inbox, [f"b{i}" for i in range(15)])
    wait_until(lambda: len(shared.list_runs()) == 30, 60, "30 runs")
    expected = database_ids(shared)
    assert len(expected) >= 30 * 3  # run_archived, review_needed, model_approved, ...
    wait_until(lambda: len(receiver.ids()) >= len(expected), 60, "every event delivered")
    assert receiver.ids() == expected
    taken = [e for d in hosts for e in d.events("notify_lease_taken")]
    assert len(taken) == 1
    for daemon in hosts:
        assert daemon.stop()[0] == 0


def test_the_holder_killed_another_service_takes_the_target_over(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, receiver: Receiver
) -> None:
    """The service holding the target is killed (-9) while the receiver hangs; the other
    takes the lease when it expires and delivers everything: none lost, in order, and
    an event sent twice at most once (the one in flight)."""
    first = host(daemon_factory, "h1", pg_url, receiver)
    first.start()
    drop(first.inbox, ["early"])
    wait_until(lambda: first.events("notify_lease_taken"), 30, "the first service to hold")
    receiver.hang.set()
    drop(first.inbox, ["held"])
    wait_until(lambda: receiver.hung, 30, "a delivery in flight")
    second = host(daemon_factory, "h2", pg_url, receiver)
    second.start()
    assert first.process is not None
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    receiver.hang.clear()
    receiver.release.set()
    drop(second.inbox, ["late"])
    wait_until(lambda: len(shared.list_runs()) == 3, 60, "three runs")
    expected = database_ids(shared)
    wait_until(lambda: set(receiver.ids()) >= set(expected), 60, "every event delivered")
    received = receiver.ids()
    assert [i for n, i in enumerate(received) if i not in received[:n]] == expected
    assert len(received) - len(expected) <= 1
    assert second.events("notify_lease_taken")
    assert second.stop()[0] == 0


def test_a_service_killed_right_after_a_delivery_loses_nothing(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, receiver: Receiver
) -> None:
    """Killed (a crash step) after the receiver took an event, before the cursor moved
    past it: restarted, it sends that event again (same id) and then the rest."""
    first = host(daemon_factory, "h1", pg_url, receiver)
    drop(first.inbox, ["one", "two"])
    first.start(env={"GATEWATCH_CRASH_AT": "notify:delivered"}, wait_ready=False)
    assert first.process is not None
    assert first.process.wait(timeout=60) == 86
    assert len(receiver.ids()) == 1
    first.start()
    wait_until(lambda: len(shared.list_runs()) == 2, 60, "two runs")
    expected = database_ids(shared)
    wait_until(lambda: set(receiver.ids()) >= set(expected), 60, "every event delivered")
    received = receiver.ids()
    assert received[0] == received[1] == expected[0]  # the one in flight, sent again
    assert received[1:] == expected
    assert first.stop()[0] == 0


@pytest.mark.parametrize("body", ["not json", "[]"])
def test_an_events_row_that_is_no_event_is_passed_over_with_a_line(
    daemon_factory: DaemonFactory,
    pg_url: str,
    shared: SharedArchive,
    receiver: Receiver,
    body: str,
) -> None:
    """A row of the events table written by hand (not JSON, or not an object) is passed
    over with a warning, and the events after it are delivered (it stopped the target for
    good, and `notify status` was a traceback)."""
    with shared.database.connection() as connection:
        connection.execute(
            "INSERT INTO events (id, type, body) VALUES ('x', 'run_archived', %s)", (body,)
        )
    daemon = host(daemon_factory, "h1", pg_url, receiver)
    daemon.start()
    drop(daemon.inbox, ["after"])
    wait_until(lambda: len(shared.list_runs()) == 1, 60, "the run")
    expected = database_ids(shared)[1:]
    wait_until(lambda: receiver.ids() == expected, 60, "the events after the row")
    assert len(daemon.events("notify_event_unreadable")) == 1
    status = subprocess.run(
        [*gatewatch_command(), "notify", "status", "--config", str(daemon.config_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
    assert daemon.stop()[0] == 0


def test_a_cursor_the_database_will_not_move_sends_the_event_once(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, receiver: Receiver
) -> None:
    """Delivered, but the database refuses to move the cursor past it (its deliveries table
    lacks a column, as one made by an early build did): the event is sent once, the move
    tried again with waits growing, then made once it can be, and the next event sent
    (the same event went again every second, for ever)."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE deliveries DROP COLUMN delivered")
    daemon = host(daemon_factory, "h1", pg_url, receiver)
    daemon.start()
    drop(daemon.inbox, ["one"])
    wait_until(lambda: len(receiver.ids()) >= 1, 60, "the first event")
    wait_until(lambda: len(daemon.events("notify_error")) >= 3, 60, "the move tried again")
    waits = [e["retry_in_s"] for e in daemon.events("notify_error")[:3]]
    assert waits == [1.0, 2.0, 4.0]
    assert len(receiver.ids()) == 1  # not sent again while the move fails
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE deliveries ADD COLUMN delivered bigint NOT NULL DEFAULT 0")
    expected = database_ids(shared)
    wait_until(lambda: receiver.ids() == expected, 60, "every event, each once")
    assert daemon.stop()[0] == 0
