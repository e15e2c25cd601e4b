"""Tests for daemon.unread: the files named by events queued and not read yet."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from daemon.unread import Unread
from daemon.watcher import WatchEvent

_steps = st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b", "c"])), max_size=40)


@given(_steps)
def test_a_file_is_listed_while_more_of_its_events_were_added_than_read(
    steps: list[tuple[bool, str]],
) -> None:
    """Each file is listed once while an event about it is unread; a read with none
    queued (an event put in the queue directly) never goes below none."""
    unread, model = Unread(), dict.fromkeys("abc", 0)
    for added, name in steps:
        if added:
            unread.add(WatchEvent("written", Path(name)))
            model[name] += 1
        else:
            unread.read(WatchEvent("completed", Path(name)))
            model[name] = max(0, model[name] - 1)
    assert sorted(unread.files()) == sorted(Path(n) for n, count in model.items() if count)


def test_adds_and_reads_from_two_threads_balance() -> None:
    """As many reads as adds, some from two threads at once, leave nothing listed."""
    unread = Unread()
    events = [WatchEvent("changed", Path(f"f{i}")) for i in range(50)]

    def each(step: Callable[[WatchEvent], None]) -> None:
        for _ in range(200):
            for event in events:
                step(event)

    each(unread.add)  # queued ahead: the reads never find a file at none
    threads = [threading.Thread(target=each, args=(step,)) for step in (unread.read, unread.add)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switched as often as can be: a lost update shows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    each(unread.read)
    assert unread.files() == []
