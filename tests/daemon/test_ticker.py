"""Tests for daemon.ticker: interval jobs keep their cadence whatever the wall clock does."""

from __future__ import annotations

import pytest

from daemon.ticker import SystemClock, Ticker
from tests.daemon.fakes import FakeClock


@pytest.mark.parametrize("step", [-20.0, -3600.0, 3600.0])
def test_a_stepped_wall_clock_does_not_stall_the_interval_jobs(step: float) -> None:
    """The wall clock stepped back 20 s or an hour (or forward): jobs keep their cadence."""
    clock = FakeClock()
    fired: list[tuple[float, str]] = []
    ticker = Ticker(
        {"rescan": 2.0, "compact": 5.0}, clock, lambda job: fired.append((clock.mono, job))
    )
    for second in range(1, 31):
        clock.advance(1.0)
        if second == 3:
            clock.step_wall(step)
        if second == 20:
            clock.step_wall(-step)  # and put back
        ticker.poll()
    rescans = [at - 1000 for at, job in fired if job == "rescan"]
    compacts = [at - 1000 for at, job in fired if job == "compact"]
    assert rescans == [float(s) for s in range(2, 31, 2)]
    assert compacts == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]


def test_missed_ticks_coalesce_into_one_and_keep_the_grid() -> None:
    """A poll after several intervals fires the job once; the next is on the original grid."""
    clock = FakeClock()
    fired: list[str] = []
    ticker = Ticker({"rescan": 2.0}, clock, fired.append)
    clock.advance(7.0)
    assert ticker.poll() == ["rescan"]
    clock.advance(0.5)
    assert ticker.poll() == []
    clock.advance(0.5)  # 8.0: the grid is 2, 4, 6, 8
    assert ticker.poll() == ["rescan"]
    assert fired == ["rescan", "rescan"]


def test_the_system_clock_reads_both_clocks() -> None:
    """SystemClock gives a monotonic and a wall reading."""
    clock = SystemClock()
    assert clock.monotonic() <= clock.monotonic()
    assert clock.time() > 1_600_000_000
