"""A real HTTP webhook receiver on loopback (http.server in a thread), for tests and benchmarks."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic() when it came in

    @property
    def event(self) -> dict[str, Any]:
        """The body as JSON."""
        document: dict[str, Any] = json.loads(self.body)
        return document


class Receiver:
    """Records every POST; can answer an error status, hang, or be down (port closed)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.hang = threading.Event()  # set: every request waits until release is set
        self.release = threading.Event()
        self.hung = 0  # requests that were held without an answer
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> Receiver:
        """Listen on 127.0.0.1 (the same port as before when restarted)."""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.hang.is_set():
                    with receiver._lock:
                        receiver.hung += 1
                    receiver.release.wait(30)
                    return  # hung up without an answer
                with receiver._lock:
                    status = receiver.status
                    if status < 300:
                        receiver.requests.append(
                            Received(self.path, dict(self.headers), body, time.monotonic())
                        )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port (a receiver that is down: connections are refused)."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The webhook URL."""
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict[str, Any]]:
        """The bodies of the accepted requests, in arrival order."""
        with self._lock:
            return [r.event for r in self.requests]

    def ids(self) -> list[str]:
        """The ids of the events accepted, in arrival order."""
        return [str(e["id"]) for e in self.events()]
