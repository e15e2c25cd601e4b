"""Tests for daemon.notify.transport: one attempt is bounded in time, memory and processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.notify import transport
from daemon.notify.settings import Target
from daemon.notify.transport import Commands, Result, post, run_command
from tests.process import wait_until

pytestmark = pytest.mark.timeout(60)

EVENT = {"id": "e1", "type": "run_archived", "time": "2026-01-01T00:00:00Z", "data": {}}


def _gone(pid: int) -> bool:
    """Whether a process no longer runs (gone, or a zombie nobody reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


@pytest.mark.parametrize("exit_status", [0, 3])
def test_a_command_target_keeps_no_output_and_leaves_no_child(
    tmp_path: Path, exit_status: int
) -> None:
    """50 MB on stdout is not kept, stderr's tail names the failure, a background child dies."""
    pidfile = tmp_path / "child.pid"
    script = (
        f"sleep 1000 & echo $! > {pidfile}; head -c 50000000 /dev/zero; "
        f"head -c 200000 /dev/zero | tr '\\0' x >&2; printf '\\nlast line\\n' >&2; "
        f"exit {exit_status}"
    )
    target = Target(kind="command", name="c", argv=("sh", "-c", script))
    result = run_command(target, EVENT, 30.0)
    assert result.ok is (exit_status == 0)
    if exit_status:
        assert result.detail.endswith("last line")
        assert len(result.detail) <= 200
    child = int(pidfile.read_text())
    wait_until(lambda: _gone(child), 10, "the background child to be killed with its group")


def test_a_command_that_hangs_is_killed_with_its_group_at_the_deadline(tmp_path: Path) -> None:
    """A command still running at the deadline is killed, children and all, on time."""
    pidfile = tmp_path / "child.pid"
    target = Target(
        kind="command", name="c", argv=("sh", "-c", f"sleep 1000 & echo $! > {pidfile}; wait")
    )
    started = time.monotonic()
    result = run_command(target, EVENT, 1.0)
    assert not result.ok
    assert "killed" in result.detail
    assert time.monotonic() - started < 5
    wait_until(lambda: _gone(int(pidfile.read_text())), 10, "the child to be killed")


def test_closing_commands_ends_one_in_flight_and_any_started_after(tmp_path: Path) -> None:
    """Commands.close (the sender stopping) kills a running command and its children at
    once, and one started after it as it starts: one running at SIGTERM outlived the
    service, one more at every stop."""
    pidfile = tmp_path / "child.pid"
    target = Target(
        kind="command", name="c", argv=("sh", "-c", f"sleep 1000 & echo $! > {pidfile}; wait")
    )
    commands = Commands()
    results: list[Result] = []
    delivering = threading.Thread(
        target=lambda: results.append(run_command(target, EVENT, 60, commands))
    )
    delivering.start()
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 10, "the child")
    began = time.monotonic()
    commands.close()
    delivering.join(10)
    assert time.monotonic() - began < 5
    assert not results[0].ok
    wait_until(lambda: _gone(int(pidfile.read_text())), 10, "the child to be killed")
    began = time.monotonic()
    assert not run_command(target, EVENT, 60, commands).ok  # started after: killed at once
    assert time.monotonic() - began < 5


def test_a_child_that_left_the_group_holds_no_reader_thread(tmp_path: Path) -> None:
    """A command whose child leaves its process group (setsid) and keeps stderr open: the
    attempt ends within seconds, and its stderr reader has ended when it returns (one
    thread leaked per attempt; then one read, from the pipe's reused number, another
    thread's file)."""
    pidfiles = [tmp_path / f"child{n}.pid" for n in range(3)]
    try:
        for pidfile in pidfiles:  # the command waits until its child has left the group
            script = (
                f"setsid sh -c 'echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; "
                f"exec sleep 30' & while [ ! -e {pidfile} ]; do sleep 0.01; done; exit 0"
            )
            target = Target(kind="command", name="c", argv=("sh", "-c", script))
            assert run_command(target, EVENT, 10.0).ok
            assert not [t for t in threading.enumerate() if isinstance(t, transport._Tail)]
    finally:
        for pidfile in pidfiles:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture
def trickler() -> Iterator[str]:
    """A loopback HTTP server that answers 200 one byte every 0.3 s."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                if stop.wait(0.3):
                    return
                try:
                    connection.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        server.close()
        thread.join(5)


def test_timeout_bounds_the_whole_attempt_against_a_trickling_receiver(trickler: str) -> None:
    """A receiver sending a byte every 0.3 s is cut off at timeout_seconds, not per read."""
    target = Target(kind="webhook", name="w", url=trickler)
    started = time.monotonic()
    result = post(target, EVENT, 1.0)
    elapsed = time.monotonic() - started
    assert not result.ok
    assert "within 1 s" in result.detail
    assert elapsed < 3
