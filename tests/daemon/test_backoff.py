"""Tests for daemon.backoff: delays double to the cap and only news is logged."""

from __future__ import annotations

from pathlib import Path

from daemon.backoff import Backoff

PATH = Path("/w/a_summary.json")


def test_the_same_failure_doubles_up_to_ten_minutes_and_is_news_once() -> None:
    """5, 10, 20 ... s capped at 600 s; only the first of identical failures is news."""
    backoff = Backoff()
    retries = [backoff.failed(PATH, "cannot read: Permission denied", (1, 2, 3)) for _ in range(9)]
    assert [r.delay for r in retries] == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert [r.news for r in retries] == [True] + [False] * 8
    assert retries[-1].attempts == 9


def test_a_change_of_reason_or_bytes_starts_again_and_is_news() -> None:
    """A new reason, or the file changing, is logged and retried after 5 s again."""
    backoff = Backoff()
    backoff.failed(PATH, "a", (1, 2, 3))
    backoff.failed(PATH, "a", (1, 2, 3))
    changed = backoff.failed(PATH, "a", (1, 2, 4))
    assert (changed.delay, changed.news) == (5, True)
    other = backoff.failed(PATH, "b", (1, 2, 4))
    assert (other.delay, other.news) == (5, True)
    assert backoff.succeeded(PATH) == 1
    assert backoff.succeeded(PATH) == 0
    assert len(backoff) == 0


def test_attempts_failing_on_their_own_staging_folders_are_the_same_failure() -> None:
    """A read-only archive fails each attempt on another `.staging-<timestamp>` folder: the
    delay still doubles and only the first is news (each was logged, retried every 5 s)."""
    backoff, path = Backoff(), Path("in/a_summary.json")
    reasons = [
        f"[Errno 13] Permission denied: '/srv/archive/.staging-20261206T0831{s:02d}123456Z'"
        for s in range(3)
    ]
    retries = [backoff.failed(path, reason, None) for reason in reasons]
    assert [(r.delay, r.attempts, r.news) for r in retries] == [
        (5.0, 1, True),
        (10.0, 2, False),
        (20.0, 3, False),
    ]
    assert backoff.failed(path, "[Errno 28] No space left on device", None).news


def test_rearm_names_the_failing_files_and_their_next_failure_waits_the_first_delay() -> None:
    """rearm (the cause may be gone) lists each failing file; its next failure waits 5 s
    again and is not news, the one after 10 s; a forgotten file is not listed."""
    backoff, other = Backoff(), Path("/w/b_summary.json")
    for _ in range(3):
        backoff.failed(PATH, "cannot connect", (1, 2, 3))
    backoff.failed(other, "cannot connect", (4, 5, 6))
    backoff.forget(other)
    assert backoff.rearm() == [PATH]
    again = [backoff.failed(PATH, "cannot connect", (1, 2, 3)) for _ in range(2)]
    assert [(r.delay, r.news, r.attempts) for r in again] == [(5, False, 4), (10, False, 5)]
