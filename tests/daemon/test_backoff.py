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
