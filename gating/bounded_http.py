"""An HTTP opener whose answers are bounded: no redirect followed, at most 64 KiB read,
and the whole answer, its head included, read by a deadline (what ``push`` sends with)."""

from __future__ import annotations

import http.client
import io
import socket
import time
import urllib.request
from typing import Any

__all__ = ["ANSWER_MAX_BYTES", "OPENER", "read_answer"]

ANSWER_MAX_BYTES = 64 * 1024  # a server's answer is one small JSON object: never read more
_NO_TIMEOUT = 30.0  # the deadline of an answer on a socket opened with no timeout


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to go: followed, it sent the submit token to
    another host as a GET, and the summary was spooled for ever."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx: no gatewatch server here


_LATE = "the answer took longer than the timeout"


class _ReadsByDeadline(io.RawIOBase):
    """A socket's reads, each waiting no later than ``deadline``: a server trickling its
    answer a byte at a time (its head included, which http.client reads line by line with
    only the socket's timeout for each read) is cut there, TimeoutError."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline
        self._reads = sock.makefile("rb", buffering=0)  # holds the socket open until closed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(_LATE)
        self._sock.settimeout(left)
        try:
            return self._reads.readinto(buffer)
        except TimeoutError:
            raise TimeoutError(_LATE) from None

    def close(self) -> None:
        self._reads.close()
        super().close()


class _Answer(http.client.HTTPResponse):
    """A response read in whole within the timeout from when it began (see _ReadsByDeadline)."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        timeout = sock.gettimeout()
        deadline = time.monotonic() + (_NO_TIMEOUT if timeout is None else timeout)
        self.fp = io.BufferedReader(_ReadsByDeadline(sock, deadline))


class _Connection(http.client.HTTPConnection):
    response_class = _Answer


class _SecureConnection(http.client.HTTPSConnection):
    response_class = _Answer  # with the system's trusted certificates, as urllib's default


class _Plain(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_Connection, req)


class _Secure(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_SecureConnection, req)


OPENER = urllib.request.build_opener(_NoRedirects, _Plain, _Secure)


def read_answer(response: Any) -> bytes:
    """A server's answer: at most ANSWER_MAX_BYTES + 1 bytes (a server sending without
    end filled the sender's memory; one trickling it is cut by _Answer's deadline)."""
    read = getattr(response, "read1", None) or response.read  # what has come, up to n
    parts, size = [], 0
    while size <= ANSWER_MAX_BYTES and (part := read(ANSWER_MAX_BYTES + 1 - size)):
        parts.append(part)
        size += len(part)
    missing = getattr(response, "length", None)  # what its Content-Length still promised
    if size <= ANSWER_MAX_BYTES and isinstance(missing, int) and missing > 0:
        raise http.client.IncompleteRead(b"".join(parts), missing)  # the connection dropped
    return b"".join(parts)
