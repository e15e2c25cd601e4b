"""The producer matrix: every way a training job writes a file, under both observers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(90)


def in_place(inbox: Path, outside: Path, run_id: str) -> None:
    """Open, write, close in the watched folder."""
    (inbox / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))


def sibling_rename(inbox: Path, outside: Path, run_id: str) -> None:
    """Write a dot-temp file next to it, then rename."""
    temp = inbox / f".{run_id}.tmp"
    temp.write_bytes(summary_bytes(run_id))
    temp.rename(inbox / f"{run_id}_summary.json")


def cross_folder_rename(inbox: Path, outside: Path, run_id: str) -> None:
    """Write in another folder of the same filesystem, then rename into the tree."""
    (outside / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))
    (outside / f"{run_id}_summary.json").rename(inbox / f"{run_id}_summary.json")


def slow_chunks(inbox: Path, outside: Path, run_id: str) -> None:
    """Hold the file open and write it in chunks, pausing longer than settle_seconds."""
    data = summary_bytes(run_id)
    with (inbox / f"{run_id}_summary.json").open("wb") as handle:
        for start in range(0, len(data), 200):
            handle.write(data[start : start + 200])
            handle.flush()
            time.sleep(0.3)  # a slow producer on purpose (settle_seconds is 0.5 here)


def appending_cycles(inbox: Path, outside: Path, run_id: str) -> None:
    """Append each chunk in an open/close of its own (each close reports a file cut short)."""
    data = summary_bytes(run_id)
    for start in range(0, len(data), len(data) // 4 + 1):
        with (inbox / f"{run_id}_summary.json").open("ab") as handle:
            handle.write(data[start : start + len(data) // 4 + 1])
        time.sleep(0.1)  # a pause within settle_seconds (0.5 here)


def new_nested_folder(inbox: Path, outside: Path, run_id: str) -> None:
    """Create nested folders just before the file."""
    folder = inbox / run_id / "eval" / "final"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_bytes(summary_bytes(run_id))


PRODUCERS = [
    in_place,
    sibling_rename,
    cross_folder_rename,
    slow_chunks,
    appending_cycles,
    new_nested_folder,
]


@pytest.mark.parametrize("observer", ["native", "polling"])
def test_every_producer_is_archived_exactly_once(
    daemon_factory: Callable[..., Daemon], tmp_path: Path, observer: str
) -> None:
    """Each producer style, the same file twice under two names, and files dropped while down."""
    daemon = daemon_factory(watch={"observer": observer, "settle_seconds": 0.5})
    outside = tmp_path / "outside"
    outside.mkdir()
    in_place(daemon.inbox, outside, "while-down-before")
    daemon.start()
    for producer in PRODUCERS:
        producer(daemon.inbox, outside, producer.__name__)
    (daemon.inbox / "copy_summary.json").write_bytes(summary_bytes("in_place"))
    expected = ["while-down-before", *(p.__name__ for p in PRODUCERS)]
    daemon.wait_for_event("run_archived", count=len(expected), timeout=30)
    daemon.wait_for_event("duplicate_skipped", timeout=10)
    daemon.stop()
    in_place(daemon.inbox, outside, "while-down-after")
    daemon.start()
    daemon.wait_for_event("run_archived", run_id="while-down-after", timeout=15)
    assert daemon.stop()[0] == 0
    assert daemon.events("file_rejected") == []
    assert_consistent(daemon.archive, [*expected, "while-down-after"])


def test_writer_pausing_longer_than_settle_is_not_taken_half_way(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """With inotify, a writer that pauses past settle_seconds mid-file is waited for."""
    daemon = daemon_factory(watch={"observer": "native", "settle_seconds": 0.3})
    daemon.start()
    data = summary_bytes("paused")
    with (daemon.inbox / "paused_summary.json").open("wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(1.0)  # the pause under test: three times settle_seconds
        handle.write(data[len(data) // 2 :])
    daemon.wait_for_event("run_archived", run_id="paused", timeout=15)
    assert daemon.stop()[0] == 0
    assert daemon.events("file_rejected") == []
    assert_consistent(daemon.archive, ["paused"])


@pytest.mark.parametrize("observer", ["native", "polling"])
def test_a_writer_closing_between_pieces_and_pausing_past_settle_is_not_rejected(
    daemon_factory: Callable[..., Daemon], observer: str
) -> None:
    """A writer appending a quarter at a time, each in an open/close of its own, pausing
    three times settle_seconds in between: archived once, never rejected (each pause was
    a rejection of the file cut short, a `file_rejected` event and a copy each)."""
    daemon = daemon_factory(watch={"observer": observer, "settle_seconds": 0.3})
    daemon.start()
    data = summary_bytes("pausing")
    piece = len(data) // 4 + 1
    for start in range(0, len(data), piece):
        with (daemon.inbox / "pausing_summary.json").open("ab") as handle:
            handle.write(data[start : start + piece])
        time.sleep(1.0)  # the pause under test: a producer between two pieces
    daemon.wait_for_event("run_archived", run_id="pausing", timeout=15)
    assert daemon.stop()[0] == 0
    assert daemon.events("file_rejected") == []
    assert_consistent(daemon.archive, ["pausing"])


def test_a_file_cut_short_and_left_so_is_rejected_once_it_settles(
    daemon_factory: Callable[..., Daemon],
) -> None:
    """A writer that died half-way: its file is waited for 10 settles as it is, then
    rejected once, and a whole file dropped after it is archived."""
    daemon = daemon_factory(watch={"observer": "native", "settle_seconds": 0.3})
    daemon.start()
    data = summary_bytes("died")
    written = time.monotonic()
    (daemon.inbox / "died_summary.json").write_bytes(data[: len(data) // 2])
    [rejected] = daemon.wait_for_event("file_rejected", timeout=15)
    assert time.monotonic() - written >= 3.0  # not at its close: 10 settles later
    assert "its JSON stops short, cut off or still being written" in rejected["reason"]
    in_place(daemon.inbox, daemon.inbox, "after")
    daemon.wait_for_event("run_archived", run_id="after", timeout=15)
    assert daemon.stop()[0] == 0
    assert len(daemon.events("file_rejected")) == 1
    assert_consistent(daemon.archive, ["after"])
