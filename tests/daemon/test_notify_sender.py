"""Tests for the sender: order, retries, giving up (fake clock); real receivers on loopback."""

from __future__ import annotations

import errno
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from benchmarks.receiver import Receiver
from daemon.notify.payloads import verify
from daemon.notify.sender import Sender, TargetSender
from daemon.notify.settings import NotifySettings, Target, outbox_for, parse_notify
from daemon.notify.transport import Result
from gating import TrainingArchiveManager
from gating.archive import durable
from gating.archive import outbox as outbox_module
from gating.archive.outbox import Cursor, Outbox
from gating.events import run_events
from tests.conftest import make_summary
from tests.process import wait_until

pytestmark = pytest.mark.timeout(60)


class Log:
    """Records what the sender logs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def _add(self, level: str, name: str, **fields: Any) -> None:
        self.lines.append((level, name, fields))

    def debug(self, name: str, **fields: Any) -> None:
        """Record a debug line."""
        self._add("debug", name, **fields)

    def info(self, name: str, **fields: Any) -> None:
        """Record an info line."""
        self._add("info", name, **fields)

    def warning(self, name: str, **fields: Any) -> None:
        """Record a warning."""
        self._add("warning", name, **fields)

    def error(self, name: str, **fields: Any) -> None:
        """Record an error."""
        self._add("error", name, **fields)

    def named(self, name: str) -> list[dict[str, Any]]:
        """The fields of every line called ``name``."""
        return [fields for _, n, fields in self.lines if n == name]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A transport that answers from a list of results and records what it was given."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str]] = []

    def __call__(self, target: Target, event: Mapping[str, Any], timeout: float) -> Result:
        self.sent.append((target.name, str(event["id"])))
        ok = self.answers.pop(0) if self.answers else True
        return Result(ok, "HTTP 200" if ok else "HTTP 503")


def ev(n: int, kind: str = "run_archived") -> dict[str, Any]:
    """A minimal event."""
    return {"id": f"e{n}", "type": kind, "time": "t", "data": {}}


def settings(**timing: Any) -> NotifySettings:
    """Two webhooks, the second only for review_needed, quick retries."""
    return parse_notify(
        {
            "webhooks": [
                {"url": "http://127.0.0.1:9/a", "name": "a"},
                {"url": "http://127.0.0.1:9/b", "name": "b", "events": ["review_needed"]},
            ],
            "max_attempts": 3,
            "backoff_initial_seconds": 1,
            "backoff_max_seconds": 4,
            **timing,
        },
        Path("."),
    )


def sender_for(
    outbox: Outbox, s: NotifySettings, index: int, transport: Script, clock: Clock, log: Log
) -> TargetSender:
    """A TargetSender for target ``index`` of ``s``."""
    return TargetSender(
        outbox,
        s.targets[index],
        peers=[t.name for t in s.targets],
        policy=s.policy,
        timeout=s.timeout_seconds,
        transport=transport,
        clock=clock,
        log=log,
    )


def run_until_idle(sender: TargetSender, clock: Clock, limit: int = 100) -> None:
    """Step the sender, moving the fake clock over its waits, until it has nothing to do."""
    for _ in range(limit):
        delay = sender.step()
        if delay > 0 and sender.next_at == 0.0:
            return  # idle: nothing ahead
        clock.now += delay


def test_events_go_out_in_order_with_backoff_then_are_kept_aside(tmp_path: Path) -> None:
    """Failures are retried after 1, 2 s; the third failure keeps the event aside, the next
    event follows; the log says notify_retry, then notify_failed with the error."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1), ev(2)])
    outbox.append([ev(3)])
    transport = Script(False, False, False, True, True)
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    assert sender.step() == 1.0  # first failure: wait 1 s
    assert sender.step() == 1.0  # not due yet: nothing sent
    clock.now += 1.0
    assert sender.step() == 2.0  # second failure: wait 2 s
    clock.now += 2.0
    assert sender.step() == 0.0  # third failure: kept aside, on to the next event
    run_until_idle(sender, clock)
    assert transport.sent == [("a", "e1")] * 3 + [("a", "e2"), ("a", "e3")]
    assert [f["attempt"] for f in log.named("notify_retry")] == [1, 2]
    [failed] = log.named("notify_failed")
    assert (failed["event_id"], failed["error"], failed["attempts"]) == ("e1", "HTTP 503", 3)
    [kept] = outbox.failed("a")
    assert kept["event"]["id"] == "e1"
    assert outbox.cursor("a").delivered == 2
    assert outbox.cursor("a").failed == 1


def test_an_attempt_cut_short_by_the_stop_counts_for_nothing(tmp_path: Path) -> None:
    """A delivery that fails because the service is stopping (its command killed) is no
    attempt: on the last allowed one, the event was kept aside as failed instead of being
    sent again at the next start."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1)])
    sender = sender_for(outbox, settings(max_attempts=1), 0, Script(False), clock, log)
    sender.stopping.set()
    assert sender.step() == 0.0
    assert (sender.attempts, outbox.failed("a"), log.named("notify_failed")) == (0, [], [])
    assert outbox.cursor("a").line == 0  # still ahead: sent at the next start


def test_lines_that_are_no_events_are_passed_over_and_said_once_a_segment(
    tmp_path: Path,
) -> None:
    """A segment with many lines that are no events (planted) is passed over with one
    notify_event_unreadable for it, not one a line; the events around it go out."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1)])
    planted = outbox.segments_dir / f"{int(outbox.segments()[0][:20]) + 1:020d}.jsonl"
    planted.write_bytes(b"not an event\n" * 500)
    outbox.append([ev(2)])
    outbox.append([ev(3)])
    (outbox.segments_dir / outbox.segments()[-1]).write_bytes(b"[]\n{}\n")  # two more
    transport = Script(*[True] * 5)
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    run_until_idle(sender, clock, limit=1000)
    assert transport.sent == [("a", "e1"), ("a", "e2")]
    assert [e["at"][:27] for e in log.named("notify_event_unreadable")] == [
        repr((planted.name, 0))[:27],
        repr((outbox.segments()[-1], 0))[:27],
    ]


def test_max_age_gives_up_before_max_attempts(tmp_path: Path) -> None:
    """With max_age 2.5 s, the retry that would come after it is not made."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1)])
    transport = Script(False, False, False)
    s = settings(max_attempts=10, max_age_seconds=2.5)
    run_until_idle(sender_for(outbox, s, 0, transport, clock, log), clock)
    assert len(transport.sent) == 2  # at 0 s and 1 s; the next would be at 3 s > 2.5 s
    assert len(log.named("notify_failed")) == 1


class FullDisk(Outbox):
    """An outbox whose cursor or failed-event writes fail while ``full`` is set."""

    full = True

    def save_cursor(self, target: str, cursor: Any) -> None:
        """Fail while the disk is full."""
        if self.full:
            raise OSError(28, "No space left on device")
        super().save_cursor(target, cursor)

    def keep_failed(self, *args: Any, **kwargs: Any) -> Path:
        """Fail while the disk is full."""
        if self.full:
            raise OSError(28, "No space left on device")
        return super().keep_failed(*args, **kwargs)


def test_a_cursor_that_cannot_be_saved_holds_delivery_back(tmp_path: Path) -> None:
    """Delivered but its cursor not saved (a full disk): nothing more is sent until the
    cursor is saved, so a restart sends one event again, not all (each was sent on, and
    every one went twice after a restart)."""
    outbox, clock, log = FullDisk(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1), ev(2), ev(3)])
    transport = Script()
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    for _ in range(5):
        with pytest.raises(OSError, match="No space left"):
            sender.step()
    assert transport.sent == [("a", "e1")]
    outbox.full = False
    run_until_idle(sender, clock)
    assert transport.sent == [("a", "e1"), ("a", "e2"), ("a", "e3")]
    assert outbox.cursor("a").delivered == 3


def test_an_event_given_up_on_that_cannot_be_kept_is_not_sent_again(tmp_path: Path) -> None:
    """The last attempt failed and outbox/failed cannot take the event (a full disk): it
    is not posted again while the keeping is retried (it was, once a second, for ever)."""
    outbox, clock, log = FullDisk(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1), ev(2)])
    transport = Script(False, False, False)
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    sender.step()
    clock.now += 1.0
    sender.step()
    clock.now += 2.0
    for _ in range(5):
        with pytest.raises(OSError, match="No space left"):
            sender.step()
        clock.now += 10.0
    assert transport.sent == [("a", "e1")] * 3
    outbox.full = False
    run_until_idle(sender, clock)
    assert transport.sent == [("a", "e1")] * 3 + [("a", "e2")]
    [failed] = log.named("notify_failed")
    assert failed["event_id"] == "e1"
    assert [kept["event"]["id"] for kept in outbox.failed("a")] == ["e1"]


def test_a_segment_that_cannot_be_read_now_is_read_again_not_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file handles left while a segment is read: the step fails and is retried, and
    every event goes out (the segment read as empty, was passed over and deleted)."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1), ev(2)])
    outbox.append([ev(3)])
    failures = iter([OSError(errno.EMFILE, "Too many open files")])

    def read_regular(path: Path, max_bytes: int) -> bytes:
        failure = next(failures, None) if path.suffix == ".jsonl" else None
        if failure is not None:
            raise failure
        return durable.read_regular(path, max_bytes)

    monkeypatch.setattr(outbox_module, "read_regular", read_regular)
    transport = Script()
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    with pytest.raises(OSError, match="Too many open files"):
        sender.step()
    run_until_idle(sender, clock)
    assert transport.sent == [("a", "e1"), ("a", "e2"), ("a", "e3")]


def test_a_segment_is_held_as_its_lines_not_as_every_event_parsed(tmp_path: Path) -> None:
    """A segment of 2,000 legal lines of small nested lists (2.2 MB): sending its first
    event costs about its size, not every event parsed at once (24x its size: a planted
    segment within the limits took gigabytes)."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1)])
    nested: dict[str, list[list[int]]] = {"a": [[] for _ in range(330)]}
    lines = [{"id": f"m{n}", "type": "run_archived", "data": nested} for n in range(2_000)]
    planted = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    name = outbox.segments()[0]
    (outbox.segments_dir / f"{int(name[:20]) + 1:020d}.jsonl").write_bytes(planted)
    outbox.save_cursor("a", Cursor(name, 1))
    transport = Script()
    sender = sender_for(outbox, settings(), 0, transport, clock, log)
    tracemalloc.start()
    try:
        sender.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert transport.sent == [("a", "m0")]
    assert peak < 3 * len(planted), peak


def test_targets_have_their_own_cursors_and_segments_go_when_both_passed(tmp_path: Path) -> None:
    """b takes only review_needed; a segment is deleted once a and b are past it; a restarted
    sender resumes from its cursor without sending anything twice."""
    outbox, clock, log = Outbox(tmp_path / "outbox"), Clock(), Log()
    outbox.append([ev(1), ev(2, "review_needed")])
    outbox.append([ev(3)])
    s = settings()
    transport = Script()
    a = sender_for(outbox, s, 0, transport, clock, log)
    a.step()
    assert len(outbox.segments()) == 2
    run_until_idle(a, clock)
    assert len(outbox.segments()) == 2  # b has not read them yet
    run_until_idle(sender_for(outbox, s, 1, transport, clock, log), clock)
    assert transport.sent == [("a", "e1"), ("a", "e2"), ("a", "e3"), ("b", "e2")]
    assert outbox.size() == (0, 0)
    outbox.append([ev(4)])
    again = sender_for(outbox, s, 0, transport, clock, log)
    run_until_idle(again, clock)
    assert transport.sent[-1] == ("a", "e4")
    assert transport.sent.count(("a", "e1")) == 1


# --- real receivers on loopback ------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, stopped at the end."""
    r = Receiver().start()
    yield r
    r.stop()


def live(
    archive: Path, table: dict[str, Any], log: Log | None = None
) -> tuple[TrainingArchiveManager, Sender]:
    """An archive with an outbox and a started sender for ``table`` ([notify])."""
    s = parse_notify(table, archive.parent)
    outbox = outbox_for(archive, s)
    assert outbox is not None
    manager = TrainingArchiveManager(archive, outbox=outbox)
    sender = Sender(outbox, s, log)
    sender.start()
    return manager, sender


@pytest.mark.parametrize("secret", [b"s3cret", b"\xffk\xfe"])
def test_delivery_is_signed_and_carries_the_idempotency_key(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, secret: bytes
) -> None:
    """The body is the event; the HMAC of the body under the secret's bytes (UTF-8 or
    not: that was a traceback for every event) is in the header."""
    monkeypatch.setitem(os.environb, b"GW_TEST_SECRET", secret)
    hook = {"url": receiver.url, "secret_env": "GW_TEST_SECRET"}
    manager, sender = live(tmp_path / "archive", {"webhooks": [hook]})
    try:
        run = manager.archive_training_run(make_summary("signed", 3))
        expected = [e["id"] for e in run_events(run)]
        wait_until(lambda: len(receiver.requests) >= len(expected), 10, "the run's events")
    finally:
        sender.stop()
    assert receiver.ids() == expected
    for request in receiver.requests:
        assert verify(request.body, secret, request.headers["X-Gatewatch-Signature"])
        assert request.headers["Idempotency-Key"] == request.event["id"]
        assert request.headers["Content-Type"].startswith("application/json")


def test_receiver_down_then_up_gets_everything_in_order(tmp_path: Path, receiver: Receiver) -> None:
    """Connections refused for a while: retried with backoff, then all arrive in order."""
    receiver.stop()
    log = Log()
    table = {
        "webhooks": [{"url": receiver.url}],
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "max_attempts": 1000,
    }
    manager, sender = live(tmp_path / "archive", table, log)
    try:
        runs = [manager.archive_training_run(make_summary(f"r{i}", 2)) for i in range(5)]
        wait_until(lambda: len(log.named("notify_retry")) >= 3, 10, "three failed attempts")
        assert receiver.requests == []
        receiver.start()
        expected = [e["id"] for run in runs for e in run_events(run)]
        wait_until(lambda: len(receiver.requests) >= len(expected), 10, "every event")
    finally:
        sender.stop()
    assert receiver.ids() == expected
    assert "Connection refused" in log.named("notify_retry")[0]["error"]
    assert not log.named("notify_failed")


def test_a_hanging_receiver_costs_the_archive_nothing(tmp_path: Path, receiver: Receiver) -> None:
    """While the sender waits on a receiver that never answers, archiving goes on at its
    own pace; when the receiver answers again every event arrives."""
    receiver.hang.set()
    table = {"webhooks": [{"url": receiver.url}], "timeout_seconds": 20}
    manager, sender = live(tmp_path / "archive", table)
    try:
        manager.archive_training_run(make_summary("first"))
        wait_until(lambda: receiver.hung, 10, "the sender's request to hang")
        started = time.perf_counter()
        runs = [manager.archive_training_run(make_summary(f"r{i}")) for i in range(50)]
        elapsed = time.perf_counter() - started
        assert elapsed < 10  # well within the 20 s the sender is stuck on its first request
        assert receiver.requests == []  # the first delivery is still hanging
        receiver.hang.clear()
        receiver.release.set()
        expected = {e["id"] for run in runs for e in run_events(run)}
        wait_until(lambda: expected <= set(receiver.ids()), 40, "every event after the hang")
    finally:
        sender.stop()


def test_a_flood_is_delivered_and_the_outbox_drained(tmp_path: Path, receiver: Receiver) -> None:
    """200 runs archived in groups: every event arrives once, in order; the outbox is empty."""
    manager, sender = live(tmp_path / "archive", {"webhooks": [{"url": receiver.url}]})
    try:
        runs = manager.archive_training_runs([make_summary(f"f{i}", 3) for i in range(200)])
        expected = [e["id"] for run in runs for e in run_events(run)]
        wait_until(lambda: len(receiver.requests) >= len(expected), 50, "every event")
        outbox = manager.outbox
        assert outbox is not None
        wait_until(lambda: outbox.size() == (0, 0), 10, "an empty outbox")
    finally:
        sender.stop()
    assert receiver.ids() == expected


HOOK = """
import json, os, sys
event = json.load(sys.stdin)
marker = sys.argv[1]
if not os.path.exists(marker):
    open(marker, "w").close()
    print("deploy server busy", file=sys.stderr)
    sys.exit(3)
with open(sys.argv[2], "a") as out:
    out.write(json.dumps({"id": event["id"], "env": os.environ["GATEWATCH_EVENT_ID"]}) + "\\n")
"""


def test_a_command_that_fails_then_succeeds(tmp_path: Path) -> None:
    """The event arrives on stdin; a non-zero exit is retried, then the command succeeds."""
    got = tmp_path / "got.jsonl"
    argv = [sys.executable, "-c", HOOK, str(tmp_path / "marker"), str(got)]
    log = Log()
    table = {
        "commands": [{"argv": argv, "events": ["run_archived"]}],
        "backoff_initial_seconds": 0.05,
    }
    manager, sender = live(tmp_path / "archive", table, log)
    try:
        run = manager.archive_training_run(make_summary("cmd"))
        wait_until(got.exists, 20, "the command to succeed")
    finally:
        sender.stop()
    [line] = [json.loads(text) for text in got.read_text("utf-8").splitlines()]
    assert line["id"] == line["env"] == run_events(run)[0]["id"]
    [retry] = log.named("notify_retry")
    assert retry["error"] == "exit status 3: deploy server busy"


def test_stop_returns_promptly_while_a_delivery_hangs(tmp_path: Path, receiver: Receiver) -> None:
    """stop() waits at most its timeout even when a request is in flight."""
    receiver.hang.set()
    table = {"webhooks": [{"url": receiver.url}], "timeout_seconds": 30}
    manager, sender = live(tmp_path / "archive", table)
    manager.archive_training_run(make_summary())
    wait_until(lambda: receiver.hung, 10, "the sender's request to hang")
    started = time.monotonic()
    sender.stop(timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert os.listdir(tmp_path / "archive" / "outbox" / "segments")  # kept for next time
