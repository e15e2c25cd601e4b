"""Tests for daemon.pending: when a watched file counts as complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.pending import PendingFiles, Verdict

P = Path("/w/run_summary.json")
SIG = (1, 10, 100)
SIG2 = (1, 20, 200)


def test_close_after_write_is_taken_at_once() -> None:
    """A completed file is due immediately and taken on the first check."""
    pending = PendingFiles(settle=1.0)
    pending.changed(P, SIG, now=0.0)
    pending.completed(P, SIG, now=0.1)
    assert pending.due(0.1) == [P]
    assert pending.check(P, SIG, now=0.1) is Verdict.TAKE
    assert P not in pending


@pytest.mark.parametrize(
    ("check_at", "signature", "verdict"),
    [
        (0.5, SIG, Verdict.WAIT),
        (0.999, SIG, Verdict.WAIT),
        (1.0, SIG, Verdict.TAKE),
        (5.0, SIG, Verdict.TAKE),
        (5.0, SIG2, Verdict.WAIT),
        (5.0, None, Verdict.FORGET),
    ],
)
def test_settle_timer(
    check_at: float, signature: tuple[int, int, int] | None, verdict: Verdict
) -> None:
    """Without a close event a file is taken once unchanged for settle seconds."""
    pending = PendingFiles(settle=1.0)
    pending.changed(P, SIG, now=0.0)
    assert pending.next_due() == 1.0
    assert pending.check(P, signature, now=check_at) is verdict


def test_a_change_restarts_the_settle_timer() -> None:
    """A file that keeps changing is not taken until it has been quiet for settle seconds."""
    pending = PendingFiles(settle=1.0)
    pending.changed(P, SIG, now=0.0)
    assert pending.check(P, SIG2, now=1.0) is Verdict.WAIT
    assert pending.next_due() == 2.0
    assert pending.check(P, SIG2, now=2.0) is Verdict.TAKE


def test_file_held_open_by_a_slow_writer_waits() -> None:
    """A file someone holds open is not taken by the settle timer, only after its close."""
    pending = PendingFiles(settle=1.0, stuck_open=60.0)
    pending.changed(P, SIG, now=0.0)
    pending.opened(P, now=0.0)
    assert pending.check(P, SIG, now=10.0) is Verdict.WAIT
    pending.completed(P, SIG2, now=11.0)
    assert pending.check(P, SIG2, now=11.0) is Verdict.TAKE


def test_a_reader_closing_does_not_complete_the_file() -> None:
    """Open/close-without-write pairs leave the settle rule in charge."""
    pending = PendingFiles(settle=1.0)
    pending.changed(P, SIG, now=0.0)
    pending.opened(P, now=0.0)
    pending.closed_unwritten(P)
    assert pending.check(P, SIG, now=0.5) is Verdict.WAIT
    assert pending.check(P, SIG, now=1.0) is Verdict.TAKE


def test_open_count_is_trusted_no_longer_than_stuck_open() -> None:
    """A lost close event cannot hold a quiet file back forever."""
    pending = PendingFiles(settle=1.0, stuck_open=30.0)
    pending.changed(P, SIG, now=0.0)
    pending.opened(P, now=0.0)
    assert pending.check(P, SIG, now=29.0) is Verdict.WAIT
    assert pending.check(P, SIG, now=30.0) is Verdict.TAKE


@pytest.mark.parametrize(("age", "due"), [(0.0, 1.0), (0.4, 0.6), (1.0, 0.0), (100.0, 0.0)])
def test_scan_found_files_settle_from_their_mtime(age: float, due: float) -> None:
    """A scanned file is due settle seconds after its last modification, never before now."""
    pending = PendingFiles(settle=1.0)
    pending.found(P, SIG, age=age, now=0.0)
    assert pending.next_due() == pytest.approx(due)


def test_found_does_not_reset_a_tracked_file() -> None:
    """A rescan does not disturb a file the events already track."""
    pending = PendingFiles(settle=1.0)
    pending.completed(P, SIG, now=0.0)
    pending.found(P, SIG, age=0.0, now=0.0)
    assert pending.check(P, SIG, now=0.0) is Verdict.TAKE


def test_due_orders_by_time_and_retry_later_postpones() -> None:
    """Due files come earliest first; a failed file is retried after its delay."""
    pending = PendingFiles(settle=1.0)
    other = Path("/w/b_summary.json")
    pending.changed(other, SIG, now=0.5)
    pending.changed(P, SIG, now=0.0)
    assert pending.due(2.0) == [P, other]
    pending.retry_later(P, SIG, now=2.0, delay=5.0)
    assert pending.due(2.0) == [other]
    assert pending.due(7.0) == [other, P]
