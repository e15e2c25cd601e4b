"""`gatewatch serve`: check where to listen, bind, and run the dashboard under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from daemon import systemd
from daemon.config import Config
from daemon.errors import ConfigError, DaemonError
from daemon.logs import configure_logging, get_logger
from daemon.reloading import ConfigReader, ThresholdReloader
from daemon.signals import SignalEvents
from daemon.web.app import create_app
from daemon.web.security import is_loopback, token_problem

__all__ = ["AcceptFailures", "listen", "serve", "submit_token", "write_token"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HEAD_SECONDS = 10.0  # how long a request may take to send its head; then its body is looked at
BODY_BYTES = 10 * 1024  # the least of its body that must come in each HEAD_SECONDS after that
SEND_SECONDS = 30.0  # how long an answer may wait for the client to read DRAIN_BYTES of it
DRAIN_BYTES = 64 * 1024  # (or all it has left): a reader keeps up at about 2 kB/s
_READING_LOOK_SECONDS = 1.0  # how often an answer being read is looked at
KEEP_ALIVE_SECONDS = 5  # how long a connection may sit idle between requests (uvicorn's)
BACKLOG = 128  # connections waiting to be accepted (the listen() backlog, and uvicorn's)
ACCEPT_FAILED_EVERY = 60.0  # seconds between two lines saying accept() is out of descriptors
_ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's message


class _Deadlines(H11Protocol):
    """uvicorn's HTTP/1.1, with deadlines for what a client sends.

    Each request's head must be whole within HEAD_SECONDS of the connection (or of the
    end of the request before it); its body must then come in at BODY_BYTES or more each
    HEAD_SECONDS, unless the app is not reading it; the rest of a body the app answered
    without reading (a 401, a 413, a page) gets one HEAD_SECONDS; an answer the client
    stops reading (the socket full) gets SEND_SECONDS to drain. A connection that falls
    behind is closed, not held for ever: 1,100 half-sent heads used up the process's files
    and froze the dashboard, a body or a second head trickled a byte at a time held a
    connection past a deadline that looked at the first head only, and a client that never
    read its answers held its connection and ~4 MB of them. An answer the client is still
    reading has no deadline but taking DRAIN_BYTES of it (or what is left) each
    SEND_SECONDS (a large page read at 100 kB/s was cut off by the next head's deadline,
    or the idle one, counted from when the answer was handed over); the next head's
    window, and the idle one, start once it is read.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._received = 0  # bytes of the connection so far
        self._answered = False  # the app answered while the body was still coming
        self._timer: asyncio.TimerHandle | None = None
        self._stalled: asyncio.TimerHandle | None = None  # an answer waits for the client
        self._window_at = 0.0  # when the client last kept up with its answers (see _kept_up)
        self._window_unsent = 0  # the answers' bytes unsent then
        self._reading = False  # a look found an answer being read (the head's window waits)
        self._idle_reading = False  # the same, for the idle deadline
        self._arm(0)

    def data_received(self, data: bytes) -> None:
        before = self.conn.their_state
        self._received += len(data)
        super().data_received(data)
        after = self.conn.their_state
        if after is not before and after in (h11.IDLE, h11.SEND_BODY):
            # A head just whole (its body's window starts), or a body read after its
            # answer just ended (the next head's starts); this data counts in it.
            self._arm(self._received - len(data))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            answered = self.conn.their_state is h11.SEND_BODY
            self._arm(self._received)  # the next request's head, or the rest of this body
            self._answered = answered
            self._begin_window()  # the answer handed over: the client is to read it
            self._reading = self._idle_reading = False

    def _arm(self, mark: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._mark, self._answered = mark, False
        self._timer = self.loop.call_later(HEAD_SECONDS, self._check)

    def _check(self) -> None:
        """Close a connection whose client fell behind; look again later at a body in time.
        A request received whole (the app at work on it) has no deadline here."""
        self._timer = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and (look := self._still_reading()) is not None:
            self._timer = self.loop.call_later(look, self._check)
            return
        body_in_time = (
            state is h11.SEND_BODY
            and not self._answered
            and (self.flow.read_paused or self._received - self._mark >= BODY_BYTES)
        )
        if body_in_time:
            self._arm(self._received)
        elif state in (h11.IDLE, h11.SEND_BODY):
            self._hang_up(reset=self._unsent() > 0)

    def _still_reading(self) -> float | None:
        """While the client keeps up with its answers, when to look again; once it has
        read them all (seen at a look), a whole HEAD_SECONDS for the next head; None when
        it fell behind, or had read them before the first look."""
        unsent = self._unsent()
        if not unsent:
            was, self._reading = self._reading, False
            return HEAD_SECONDS if was else None
        self._reading = True
        return _READING_LOOK_SECONDS if self._kept_up(unsent) else None

    def _begin_window(self) -> None:
        self._window_at, self._window_unsent = self.loop.time(), self._unsent()

    def _kept_up(self, unsent: int) -> bool:
        """Whether the client keeps up: it took DRAIN_BYTES of its answers (or all it had
        left) since the window began, which then begins again, or the window is younger
        than SEND_SECONDS."""
        if self._window_unsent - unsent >= min(DRAIN_BYTES, self._window_unsent):
            self._window_at, self._window_unsent = self.loop.time(), unsent
            return True
        return self.loop.time() - self._window_at < SEND_SECONDS

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._begin_window()
            self._stalled = self.loop.call_later(SEND_SECONDS, self._send_late)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def timeout_keep_alive_handler(self) -> None:
        """An idle connection is closed (uvicorn's); one whose client is still reading its
        answers is not idle (``_check`` resets it if it falls behind): its idle time
        starts once it has read them."""
        if self.transport.is_closing():
            return
        if self._unsent() > 0:
            self._idle_reading, wait = True, _READING_LOOK_SECONDS
        elif self._idle_reading:
            self._idle_reading, wait = False, float(self.timeout_keep_alive)
        else:
            super().timeout_keep_alive_handler()
            return
        self.timeout_keep_alive_task = self.loop.call_later(wait, self.timeout_keep_alive_handler)

    def _send_late(self) -> None:
        """The answer waited SEND_SECONDS for the client: reset the connection unless it
        kept up (see _kept_up), then look again soon."""
        self._stalled = None
        if self.transport.is_closing():
            return
        if self._kept_up(self._unsent()):
            self._stalled = self.loop.call_later(_READING_LOOK_SECONDS, self._send_late)
        else:
            self._hang_up(reset=True)

    def _unsent(self) -> int:
        """Bytes of answers not yet taken by the client: ours and the kernel's."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                unsent += struct.unpack("i", queued)[0]
        return unsent

    def _hang_up(self, *, reset: bool) -> None:
        """Close the connection; ``reset`` it when answers are still unsent, dropping them
        (a plain close left the kernel holding them, megabytes, sending on while the client
        let it)."""
        sock = self.transport.get_extra_info("socket")
        if not reset or sock is None:
            self.transport.close()
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._timer, self._stalled):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)


class AcceptFailures:
    """The event loop's exception handler: asyncio's "out of system resource" from accept()
    (every descriptor in use) at most once each ACCEPT_FAILED_EVERY seconds, saying how
    many it held back; anything else as asyncio logs it.

    Python 3.11 reports that failure once per waiting connection up to the backlog, every
    second, while descriptors are short (cpython#151615): 66,000 lines, 33 MB of log in
    eight seconds with 80 clients connected to a process allowed 40 files."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._quiet_until: float | None = None
        self._held_back = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_FAILED:
            now = self._clock()
            if self._quiet_until is not None and now < self._quiet_until:
                self._held_back += 1
                return
            self._quiet_until = now + ACCEPT_FAILED_EVERY
            if self._held_back:
                held = f"{self._held_back} more since the last such line"
                context = {**context, "message": f"{_ACCEPT_FAILED} ({held})"}
                self._held_back = 0
        loop.default_exception_handler(context)


class _Server(uvicorn.Server):
    """uvicorn's server, its event loop logging accept()'s failures through AcceptFailures."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(AcceptFailures())
        await super().serve(sockets)


def write_token(config: Config) -> str | None:
    """The write token: the value of the variable ``[serve] token_env`` names (None if unset)."""
    return _token(config.serve.token_env)


def submit_token(config: Config) -> str | None:
    """The token that may submit runs: the variable ``[serve] submit_token_env`` names."""
    return _token(config.serve.submit_token_env)


def _token(name: str) -> str | None:
    return (os.environ.get(name) or None) if name else None


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as error:
        raise DaemonError(f"serve: cannot listen on {host}:{port}: {error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise DaemonError(
            f"serve: cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    return sock


def serve(
    config: Config,
    host: str | None = None,
    port: int | None = None,
    config_arg: str | None = None,
) -> int:
    """Serve the dashboard until SIGTERM/SIGINT; return the exit status. SIGHUP reads the
    config (``config_arg``, as load_config finds it) again and applies its [gating]."""
    host = host or config.serve.host
    port = config.serve.port if port is None else port
    if not 0 <= port <= 65535:
        raise ConfigError(f"serve: port {port} is not a port number (0-65535)")
    token = write_token(config)
    if token is not None and (problem := token_problem(token)):
        raise ConfigError(f"serve: ${config.serve.token_env}: {problem}")
    submitter = submit_token(config)
    if submitter is not None and (problem := token_problem(submitter, "the submit token")):
        raise ConfigError(f"serve: ${config.serve.submit_token_env}: {problem}")
    if submitter is not None and submitter == token:
        raise ConfigError(
            f"serve: ${config.serve.submit_token_env} is the reviewers' token: give senders "
            "their own"
        )
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"serve: refusing to listen on {host} without a write token: "
            + (
                f"set ${config.serve.token_env}"
                if config.serve.token_env
                else "set [serve] token_env and that variable"
            )
            + ", or listen on 127.0.0.1"
        )
    configure_logging(config.logging.format, config.logging.level)
    log = get_logger("gatewatch.web")
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    allowed = (*LOOPBACK_HOSTS, host) if is_loopback(host) else None
    # SIGHUP reloads [gating] (it ended serve with status 129), also one that comes while
    # the archive opens: done once it is open.
    signals = SignalEvents()
    signals.install(signal.SIGHUP)  # uvicorn takes SIGTERM and SIGINT itself
    app = create_app(config, token, allowed_hosts=allowed, submit_token=submitter)
    reloader = ThresholdReloader(config, ConfigReader(config_arg, config, log))
    reloader.start(app.state.web.manager, signals.reload)
    if config.serve.token_env and token is None:
        log.warning("web_read_only", reason=f"${config.serve.token_env} is not set")
    if config.serve.submit_token_env and submitter is None:  # a typo in the name, say
        reason = f"${config.serve.submit_token_env} is not set"
        log.warning("web_submissions_off", reason=reason)
    log.info(
        "web_started",
        pid=os.getpid(),
        host=bound_host,
        port=bound_port,
        archive=str(config.archive.dir),
        writable=app.state.web.writable,
        submissions=submitter is not None,
    )
    # Listening, and SIGHUP taken: with Type=notify, systemd holds a reload until now (one
    # sent as `serve` started, before its handler, ended it).
    systemd.notify("READY=1\nSTATUS=serving")
    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            server_header=False,
            proxy_headers=False,
            http=_Deadlines,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=5,
            backlog=BACKLOG,  # also how many accept() tries one wake-up of asyncio's makes
        )
    )
    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler it found, the CLI's (Terminated) or Python's (KeyboardInterrupt): that is
    # the stop asked for, so it ends here, exit 0 (it was "interrupted", 143: a failed
    # unit to systemd at every restart); a signal before uvicorn took over ends it too.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    log.info("web_stopped")
    return 0
