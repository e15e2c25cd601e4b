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
    """A file a writer still holds open is not taken by the settle timer, only after its close."""
    pending = PendingFiles(settle=1.0, stuck_open=60.0)
    pending.written(P, SIG, now=0.0)
    assert pending.check(P, SIG, now=10.0) is Verdict.WAIT
    pending.completed(P, SIG2, now=11.0)
    assert pending.check(P, SIG2, now=11.0) is Verdict.TAKE


def test_a_change_without_a_writer_is_left_to_the_settle_rule() -> None:
    """A change seen by polling or a scan (no close will come) settles by time alone."""
    pending = PendingFiles(settle=1.0)
    pending.changed(P, SIG, now=0.0)
    assert pending.check(P, SIG, now=0.5) is Verdict.WAIT
    assert pending.check(P, SIG, now=1.0) is Verdict.TAKE


@pytest.mark.parametrize(
    ("lost", "check_at", "verdict"),
    [
        (False, 29.0, Verdict.WAIT),
        (False, 30.0, Verdict.HELD),  # a writer pausing 30 s is not taken half-way: said once
        (False, 3599.0, Verdict.HELD),
        (False, 3600.0, Verdict.TAKE),  # held_open: a file held open for good is taken
        (True, 29.0, Verdict.WAIT),
        (True, 30.0, Verdict.TAKE),  # after an overflow, its close may be lost
    ],
)
def test_a_writer_is_waited_for_until_held_open_or_stuck_open_after_an_overflow(
    lost: bool, check_at: float, verdict: Verdict
) -> None:
    """A quiet file held open waits for its close up to held_open; once inotify's queue
    overflowed (its close may be lost), stuck_open (it was taken after stuck_open, and a
    writer pausing longer had its file rejected half-way)."""
    pending = PendingFiles(settle=1.0, stuck_open=30.0, held_open=3600.0)
    pending.written(P, SIG, now=0.0)
    if lost:
        pending.closes_lost()
    assert pending.check(P, SIG, now=check_at) is verdict
    if verdict is Verdict.HELD:  # said once, then waited for quietly
        assert pending.check(P, SIG, now=check_at + 0.5) is Verdict.WAIT


def test_a_write_after_an_overflow_waits_for_its_close_again() -> None:
    """A write reported after the overflow: its close will be reported too."""
    pending = PendingFiles(settle=1.0, stuck_open=30.0, held_open=3600.0)
    pending.written(P, SIG, now=0.0)
    pending.closes_lost()
    pending.written(P, SIG2, now=10.0)
    assert pending.check(P, SIG2, now=100.0) is Verdict.HELD


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


def test_due_with_a_limit_takes_the_earliest_in_arrival_order() -> None:
    """A limited batch holds the earliest files; files due at the same time keep their order."""
    pending = PendingFiles(settle=1.0)
    names = [Path(f"/w/{name}_summary.json") for name in "zyxwv"]
    for path in names:
        pending.found(path, SIG, age=60.0, now=0.0)  # old files: all due at 0.0
    late = Path("/w/a_summary.json")
    pending.found(late, SIG, age=0.0, now=0.5)  # due at 1.5
    assert pending.due(10.0, limit=3) == names[:3]
    assert pending.due(10.0, limit=10) == [*names, late]
    assert pending.due(10.0) == [*names, late]


def test_a_file_an_event_reported_goes_before_a_scanned_backlog() -> None:
    """Files a scan found wait behind one an event reported, even if found earlier."""
    pending = PendingFiles(settle=1.0)
    backlog = [Path(f"/w/{i}_summary.json") for i in range(5)]
    for index, path in enumerate(backlog):
        pending.found(path, (index, 1, 1), age=3600.0, now=10.0)
    new = Path("/w/new_summary.json")
    pending.completed(new, (99, 1, 1), now=20.0)
    assert pending.due(20.0, limit=2) == [new, backlog[0]]
    assert pending.due(20.0) == [new, *backlog]


def test_a_file_cut_short_waits_cut_wait_from_when_it_was_first_found_so() -> None:
    """Cut short at t=0: it may wait until cut_wait has passed as it is (a second look with
    the same signature keeps the first start); changed, it waits anew; settled, no more."""
    pending = PendingFiles(settle=1.0, cut_wait=10.0)
    assert pending.may_wait(P, SIG, 0.0)  # never seen cut short
    pending.cut_short(P, SIG, 0.0)
    assert pending.due(0.5) == []
    assert pending.due(1.0) == [P]  # looked at again after settle
    pending.cut_short(P, SIG, 0.5)  # a close without a write: the wait still began at 0
    assert [pending.may_wait(P, SIG, t) for t in (9.9, 10.0)] == [True, False]
    assert pending.may_wait(P, SIG2, 15.0)  # it grew: a new wait
    pending.settled(P)
    assert pending.may_wait(P, SIG, 15.0)


def test_a_file_cut_short_is_looked_at_less_often_the_longer_it_waits() -> None:
    """Looks at 1, 2, 4 and 8 s, the last when cut_wait is up (10 s), and never again:
    each look reads the file, so a quiet one is not read every settle seconds."""
    pending = PendingFiles(settle=1.0, cut_wait=10.0)
    looks, now = [], 0.0
    while pending.may_wait(P, SIG, now):
        pending.cut_short(P, SIG, now)
        next_due = pending.next_due()
        assert next_due is not None
        now = next_due
        looks.append(now)
    assert looks == [1.0, 2.0, 4.0, 8.0, 10.0]


def test_due_now_brings_forward_only_the_files_that_wait() -> None:
    """due_now makes waiting files due at once and counts them; a file not pending is
    passed over, and one due sooner keeps its time."""
    pending = PendingFiles(settle=1.0)
    late, soon = Path("/in/late.json"), Path("/in/soon.json")
    pending.retry_later(late, (1, 2, 3), now=0.0, delay=600.0)
    pending.retry_later(soon, (4, 5, 6), now=0.0, delay=0.5)
    assert pending.due_now([late, soon, Path("/in/gone.json")], now=10.0) == 2
    assert set(pending.due(10.0)) == {soon, late}
    assert pending.next_due() == 0.5
