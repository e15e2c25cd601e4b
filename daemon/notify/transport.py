"""Delivering one event to one target: an HTTP POST (http.client) or a command (subprocess)."""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import urlsplit

from daemon.logs import elapsed_ms
from daemon.notify.payloads import json_body, render_body, request_headers
from daemon.notify.settings import Target

__all__ = ["Commands", "Deliver", "Result", "deliver"]

_RESPONSE_BYTES = 65536
_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class Result:
    """How one delivery attempt went; ``detail`` is one line (the HTTP status or the error)."""

    ok: bool
    detail: str
    duration_ms: float = 0.0


Deliver = Callable[[Target, Mapping[str, Any], float], Result]


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_CHARS else line[: _DETAIL_CHARS - 1] + "…"


def _secret(target: Target) -> bytes | None:
    """The HMAC key from the variable ``secret_env`` names (KeyError if it is unset)."""
    if target.secret_env is None:
        return None
    value = os.environb.get(target.secret_env.encode())  # its bytes, UTF-8 or not
    if not value:
        raise KeyError(target.secret_env)
    return value


def post(target: Target, event: Mapping[str, Any], timeout: float) -> Result:
    """POST the event to a webhook; a 2xx answer within ``timeout`` is a delivery.

    Redirects are not followed (a 3xx is a failure, like any non-2xx answer).
    """
    started = time.perf_counter()
    try:
        key = _secret(target)
    except KeyError:
        return Result(False, f"the variable {target.secret_env} (secret_env) is not set")
    body = render_body(event, target.format)
    headers = request_headers(event, body, key)
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    # ``timeout`` bounds the whole attempt, not each read: a receiver trickling a byte a
    # second is cut off at the deadline (the socket is shut down under the blocked read).
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    deadline = threading.Timer(timeout, expire)
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(_RESPONSE_BYTES)
    except TimeoutError:
        return Result(False, f"no answer within {timeout:g} s", elapsed_ms(started))
    except (OSError, http.client.HTTPException, ValueError) as error:  # ValueError: a bug
        if expired.is_set():
            return Result(False, f"no whole answer within {timeout:g} s", elapsed_ms(started))
        return Result(False, _short(f"{type(error).__name__}: {error}"), elapsed_ms(started))
    finally:
        deadline.cancel()
        connection.close()
    if expired.is_set():
        return Result(False, f"no whole answer within {timeout:g} s", elapsed_ms(started))
    detail = f"HTTP {response.status}"
    if not 200 <= response.status < 300:
        text = answer.decode("utf-8", "replace").strip()
        return Result(False, _short(f"{detail}: {text}" if text else detail), elapsed_ms(started))
    return Result(True, detail, elapsed_ms(started))


def run_command(
    target: Target, event: Mapping[str, Any], timeout: float, commands: Commands | None = None
) -> Result:
    """Run the command with the event as JSON on stdin (no shell); exit 0 is a delivery.

    The environment also carries GATEWATCH_EVENT_ID and GATEWATCH_EVENT_TYPE. While it
    runs it is one of ``commands``, whose close() kills it (the sender stopping).
    """
    started = time.perf_counter()
    env = {
        **os.environ,
        "GATEWATCH_EVENT_ID": str(event.get("id")),
        "GATEWATCH_EVENT_TYPE": str(event.get("type")),
    }
    try:  # its own process group, so that it and every child it leaves can be killed
        process = subprocess.Popen(
            list(target.argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # nothing reads it: 400 MB of output costs nothing
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as error:
        return Result(
            False, _short(f"cannot run {target.argv[0]}: {error.strerror}"), elapsed_ms(started)
        )
    if commands is not None and not commands.started(process.pid):
        _kill_group(process.pid)  # started as the sender stopped: it ends at once
    kept = _Tail(cast(IO[bytes], process.stderr))
    kept.start()
    # Written from a thread: a command that never reads its stdin cannot hold up the deadline.
    feeder = threading.Thread(
        target=_feed, args=(cast(IO[bytes], process.stdin), json_body(event)), daemon=True
    )
    feeder.start()
    try:
        status = process.wait(max(0.0, timeout - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        status = None
    _kill_group(process.pid)  # the command, or what it left behind, never outlives the attempt
    if commands is not None:
        commands.ended(process.pid)
    process.wait()
    kept.join(1.0)  # at once, unless a child that left the group (setsid) holds stderr
    kept.stopping.set()  # then the reader ends all the same (a thread leaked per attempt),
    kept.join()  # within a look, before its pipe is closed (its number is then reused)
    feeder.join(1.0)
    for pipe in (process.stdin, process.stderr):
        with contextlib.suppress(OSError):
            cast(IO[bytes], pipe).close()
    if status is None:
        return Result(False, f"still running after {timeout:g} s (killed)", elapsed_ms(started))
    if status != 0:
        lines = kept.text().strip().splitlines()
        tail = f": {lines[-1]}" if lines else ""
        return Result(False, _short(f"exit status {status}{tail}"), elapsed_ms(started))
    return Result(True, "exit status 0", elapsed_ms(started))


class _Tail(threading.Thread):
    """Reads a pipe to its end, keeping only its last ``_RESPONSE_BYTES`` (stderr's tail)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.kept = b""
        self.stopping = threading.Event()  # read no more, even if the pipe has no end yet

    def run(self) -> None:
        fd = self.pipe.fileno()
        with contextlib.suppress(OSError, ValueError):
            while not self.stopping.is_set():
                ready = select.select([fd], [], [], 0.2)[0]
                if not ready or self.stopping.is_set():
                    continue
                if not (chunk := os.read(fd, _RESPONSE_BYTES)):
                    return
                self.kept = (self.kept + chunk)[-_RESPONSE_BYTES:]

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")


def _feed(pipe: IO[bytes], body: bytes) -> None:
    with contextlib.suppress(OSError, ValueError):  # it exited, or stopped reading
        pipe.write(body)
    with contextlib.suppress(OSError, ValueError):
        pipe.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class Commands:
    """The commands one sender runs now, so that its stop ends them all (one running at
    SIGTERM outlived the service, one more at each stop), with what they left in their
    process groups; one started after the stop is killed as it starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self._closed = False

    def started(self, pgid: int) -> bool:
        """Note a command's group; False once closed (the caller kills it)."""
        with self._lock:
            if not self._closed:
                self._groups.add(pgid)
            return not self._closed

    def ended(self, pgid: int) -> None:
        """The command's attempt is over (its group killed)."""
        with self._lock:
            self._groups.discard(pgid)

    def close(self) -> None:
        """Kill every command running now, and any started from now on."""
        with self._lock:  # under the lock: a group ended meanwhile is not signalled
            self._closed = True
            for pgid in self._groups:
                _kill_group(pgid)
            self._groups.clear()


def deliver(
    target: Target, event: Mapping[str, Any], timeout: float, commands: Commands | None = None
) -> Result:
    """Deliver one event to one target, by the target's kind (a command as one of
    ``commands``)."""
    if target.kind == "command":
        return run_command(target, event, timeout, commands)
    return post(target, event, timeout)
