"""Tests for daemon.systemd: sd_notify over a real datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from daemon.systemd import notify, watchdog_interval


def test_notify_without_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside systemd nothing is sent."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_sends_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abstract: bool
) -> None:
    """The message arrives on the socket named by $NOTIFY_SOCKET (path or abstract)."""
    name = f"@gatewatch-test-{os.getpid()}" if abstract else str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name[1:] if abstract else name)
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        assert notify("READY=1") is True
        assert server.recv(100) == b"READY=1"


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("20000000", None, 10.0),
        ("20000000", "self", 10.0),
        ("20000000", "1", None),
        (None, None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    """Pings go at half of WATCHDOG_USEC, only when meant for this process."""
    for key, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, str(os.getpid()) if value == "self" else value)
    assert watchdog_interval() == expected
