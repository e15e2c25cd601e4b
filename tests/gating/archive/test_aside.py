"""Tests for gating.archive.aside: a rebuild on its own thread, waited for a bounded time."""

from __future__ import annotations

import threading

import pytest

from gating import ArchiveBusyError, ArchiveError
from gating.archive.aside import RebuildAside
from gating.progress import Progress


@pytest.mark.timeout(30)
def test_queries_wait_a_bounded_time_for_one_rebuild_and_are_told_how_far_it_is() -> None:
    """A rebuild longer than the wait: each query is ArchiveBusyError after the wait (first
    waiting for the lock, then with the folders read so far), only one rebuild runs, and
    once it ends the next query goes through."""
    release, reading, started = threading.Event(), threading.Event(), []

    def rebuild(progress: Progress) -> None:
        started.append(1)
        reading.wait(10)
        progress(500, 1100)
        release.wait(10)

    aside = RebuildAside(wait=0.05)
    with pytest.raises(ArchiveBusyError, match="waiting for the writer lock"):
        aside.run(rebuild, "/srv/archive")
    reading.set()
    with pytest.raises(ArchiveBusyError, match=r"being rebuilt \(500 of 1100 run folders read\)"):
        aside.run(rebuild, "/srv/archive")
    release.set()
    aside.wait = 10
    aside.run(rebuild, "/srv/archive")
    assert started == [1]


@pytest.mark.timeout(30)
def test_a_failed_rebuild_is_raised_and_the_next_query_starts_another() -> None:
    """A rebuild that fails (another process holds the lock) is the waiting query's error;
    the next query starts a new one."""
    outcomes = [ArchiveBusyError("/srv/archive: another writer held the lock for 5 s"), None]

    def rebuild(_progress: Progress) -> None:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure

    aside = RebuildAside(wait=10)
    with pytest.raises(ArchiveError, match="held the lock"):
        aside.run(rebuild, "/srv/archive")
    aside.run(rebuild, "/srv/archive")
    assert outcomes == []
