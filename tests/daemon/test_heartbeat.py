"""Tests for daemon.heartbeat: beats on its own thread, says when the database is back."""

from __future__ import annotations

import threading

import pytest

from daemon import heartbeat
from daemon.heartbeat import Heartbeat
from tests.daemon.fakes import FakeLog
from tests.process import wait_until


class _Flaky:
    """A shared archive whose database is away for the first ``away`` beats."""

    def __init__(self, away: int) -> None:
        self.away = away
        self.beats = 0
        self.lock = threading.Lock()

    def heartbeat(self, *_args: object) -> None:
        with self.lock:
            self.beats += 1
            if self.beats <= self.away:
                raise OSError("cannot connect: Connection refused")

    def farewell(self, *_args: object) -> None:
        """Nothing to take off."""


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("away", "resumed"), [(0, 0), (3, 1)])
def test_the_database_back_is_said_once(
    monkeypatch: pytest.MonkeyPatch, away: int, resumed: int
) -> None:
    """Three failed beats then good ones: heartbeat_failed and heartbeat_resumed are each
    logged once and ``on_resumed`` is called once; a database never away calls it never."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.01)
    archive, log, calls = _Flaky(away), FakeLog(), []
    beating = Heartbeat(archive, log, lambda: calls.append(archive.beats))
    beating.start()
    try:
        wait_until(lambda: archive.beats >= away + 5, 20, "five good beats")
    finally:
        beating.stop()
    assert calls == [away + 1] * resumed
    assert len(log.named("heartbeat_failed", "warning")) == resumed
    assert len(log.named("heartbeat_resumed", "info")) == resumed
