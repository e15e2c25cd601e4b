"""`gatewatch serve`: check where to listen, bind, and run the dashboard under uvicorn."""

from __future__ import annotations

import asyncio
import os
import socket

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from daemon.config import Config
from daemon.errors import ConfigError, DaemonError
from daemon.logs import configure_logging, get_logger
from daemon.web.app import create_app
from daemon.web.security import is_loopback, token_problem

__all__ = ["listen", "serve", "submit_token", "write_token"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HEAD_SECONDS = 10.0  # how long a new connection may take to send its first request's head


class _HeadDeadline(H11Protocol):
    """uvicorn's HTTP/1.1, with a deadline for a new connection's first request: one that
    connects and never finishes its request's head is closed after HEAD_SECONDS, not held
    for ever (1,100 such connections used up the process's files and froze the
    dashboard for everyone)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_late)

    def _head_late(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_timer.cancel()
        super().connection_lost(exc)


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
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise DaemonError(
            f"serve: cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    return sock


def serve(config: Config, host: str | None = None, port: int | None = None) -> int:
    """Serve the dashboard until SIGTERM/SIGINT; return the exit status."""
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
    app = create_app(config, token, allowed_hosts=allowed, submit_token=submitter)
    if config.serve.token_env and token is None:
        log.warning("web_read_only", reason=f"${config.serve.token_env} is not set")
    log.info(
        "web_started",
        pid=os.getpid(),
        host=bound_host,
        port=bound_port,
        archive=str(config.archive.dir),
        writable=app.state.web.writable,
        submissions=submitter is not None,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            server_header=False,
            proxy_headers=False,
            http=_HeadDeadline,
            timeout_graceful_shutdown=5,
        )
    )
    server.run(sockets=[sock])
    log.info("web_stopped")
    return 0
