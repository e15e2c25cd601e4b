"""Sending runs to a gatewatch server (POST /api/runs), with a spool for when it is down.

``push`` is what a notebook or a training script calls; `gatewatch push` is the same from a
shell. A summary the server cannot take now (unreachable, busy) is kept, durably, in a
local spool folder, and the spool is sent first at the next call (or with `gatewatch push
--spool`). The server archives the same bytes once, so a resend is a duplicate, never a
second run.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gating.archive.durable import fsync_dir, not_ours, read_regular, write_durably
from gating.bounded_http import ANSWER_MAX_BYTES, OPENER, read_answer
from gating.errors import PushRefusedError

__all__ = ["TOKEN_ENV", "PushResult", "Spool", "default_spool", "push"]

TOKEN_ENV = "GATEWATCH_SUBMIT_TOKEN"  # noqa: S105 - the variable that holds it, not a token
DEFAULT_TIMEOUT = 30.0
_ENTRY_MAX_BYTES = 1 << 30  # a spool entry is read back whole: never more than this
_SUMMARY_MAX_BYTES = 256 * 1024 * 1024  # a file sent is read whole (a server takes 16 MiB)
_ANSWERS = {"archived", "duplicate", "rejected", "skipped"}

Summaryish = Mapping[str, Any] | bytes | bytearray | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class PushResult:
    """What became of one summary: archived, duplicate, rejected (with the reason),
    spooled (kept locally until the server can be reached) or failed (neither sent nor
    kept: the spool could not be written, the reason says why). ``earlier`` holds what
    became of the summaries kept in the spool that this call sent first."""

    source: str
    outcome: str
    timestamp: str | None = None
    reason: str | None = None
    earlier: tuple[PushResult, ...] = ()  # summaries the spool kept, sent before this one

    def as_dict(self) -> dict[str, Any]:
        """The result as `archive --json` and POST /api/runs show one file."""
        return {"source": self.source, "outcome": self.outcome, "timestamp": self.timestamp,
                "reason": self.reason}  # fmt: skip


def default_spool() -> Path:
    """``$XDG_CACHE_HOME/gatewatch/spool`` (``~/.cache/gatewatch/spool`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "gatewatch" / "spool"


def _server(url: str) -> str:
    """The URL, if it is one to send to (PushRefusedError otherwise: a typo such as a
    missing ``http://`` must not pass for a server that is down, and spool the summary)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as error:
        raise PushRefusedError(f"{url!r} is not a server's URL ({error})") from None
    usable = parts.scheme in ("http", "https") and parts.hostname and url.isprintable()
    if not usable or any(c.isspace() for c in url):
        raise PushRefusedError(f"{url!r} is not a server's URL (http://host:8470)")
    if parts.username is not None or parts.password is not None:  # never shown, nor kept
        raise PushRefusedError(
            "a server's URL holds no user or password (it was kept in the spool): the "
            "submit token is the credential"
        )
    return url


def _bearer(token: str) -> str:
    """The token as a header can carry it: surrounding whitespace (a token file's newline)
    dropped; PushRefusedError if it holds other characters a header cannot (never shown)."""
    token = token.strip()
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise PushRefusedError(
            "the submit token holds characters a header cannot carry (a newline, a space, "
            "or letters beyond ASCII): copy it again"
        )
    return token


def _header_text(source: str) -> str:
    """A source name as a header's value: controls escaped, UTF-8 bytes (HTTP sends a
    header's characters as Latin-1 bytes, so a name in another script failed to send)."""
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in source)[:1000]
    return printable.encode("utf-8", "backslashreplace").decode("latin-1")


def _endpoint(url: str) -> str:
    """The submit URL of a server given by its base URL (or already by /api/runs); a
    query is kept, a fragment dropped."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    path = path if path.endswith("/api/runs") else path + "/api/runs"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


# Answers worth trying again later: a server busy, down behind a proxy, or timing out
# (every 5xx but 501: a server that does not take a POST there never will).
_TRANSIENT = frozenset({408, 425, 429})
_NOT_IMPLEMENTED = 501
# A certificate that lapsed, or that is not valid yet (a clock off): the operator renews it
# or the clock is set, and the summary waits for that; any other TLS failure is refused.
_CERTIFICATE_DATES = frozenset({9, 10})  # X509_V_ERR_CERT_NOT_YET_VALID, _HAS_EXPIRED


class _NoServerHere(PushRefusedError):
    """The URL answers, but not as a gatewatch server (a 404, a TLS error): a spool entry
    kept for it is set aside, never a reason to hold the others (a wrong token is)."""


def _post(url: str, data: bytes, token: str, source: str, timeout: float) -> PushResult | str:
    """Send one summary; its result, or (a string) why the server could not be reached
    now. PushRefusedError when it can never be sent so: the token refused, or an answer
    that says the URL is not a gatewatch server's (a 404, a 501, a TLS error, no HTTP)."""
    endpoint = _endpoint(url)
    request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL
        endpoint,
        data=data,
        method="POST",
        headers={
            "Authorization": f"Bearer {_bearer(token)}",
            "Content-Type": "application/json",
            "X-Gatewatch-Source": _header_text(source),
        },
    )
    try:
        with OPENER.open(request, timeout=timeout) as response:
            body = read_answer(response)
    except urllib.error.HTTPError as error:
        try:
            body = read_answer(error)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            error.close()  # its connection: the answer is all read that will be
        if error.code in (401, 403):
            raise PushRefusedError(f"{endpoint}: {_error_text(body, error)}") from None
        if error.code == 413:
            return PushResult(source, "rejected", reason=_error_text(body, error))
        if error.code in _TRANSIENT or (error.code >= 500 and error.code != _NOT_IMPLEMENTED):
            return f"HTTP {error.code}: {_error_text(body, error)}"  # kept for later
        if error.code != 422:
            raise _NoServerHere(
                f"{endpoint}: {_error_text(body, error)}: is it a gatewatch server's URL?"
            ) from None
    except urllib.error.URLError as error:
        if _never_secure(error.reason):
            raise _NoServerHere(f"{endpoint}: {error.reason}") from None
        return str(error.reason)  # refused, unreachable, timed out
    except (OSError, http.client.IncompleteRead) as error:  # the connection dropped, or
        return str(error) or type(error).__name__  # timed out while reading
    except (http.client.HTTPException, ValueError) as error:  # not HTTP (an SSH banner),
        raise _NoServerHere(f"{endpoint}: {error!r} is not an HTTP answer") from None
    if len(body) > ANSWER_MAX_BYTES:  # read no further: a stream without end, or cut
        return f"an answer that is not gatewatch's: longer than {ANSWER_MAX_BYTES} bytes"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = body[:200].decode("utf-8", "replace")
    if not _is_answer(answer):  # another web server there (it was spooled, for ever)
        raise _NoServerHere(
            f"{endpoint}: an answer that is not gatewatch's ({str(answer)[:200]!r}): "
            "is it a gatewatch server's URL?"
        ) from None
    return PushResult(source, str(answer["outcome"]), answer.get("timestamp"), answer.get("reason"))


def _is_answer(answer: object) -> bool:
    """Whether a decoded answer is a gatewatch server's: its outcome, and a timestamp and
    reason each text or absent (a dict for a timestamp was printed as archived {...})."""
    return (
        isinstance(answer, dict)
        and answer.get("outcome") in _ANSWERS
        and all(isinstance(answer.get(key), str | None) for key in ("timestamp", "reason"))
    )


def _never_secure(reason: object) -> bool:
    """Whether a failure to connect is TLS that will fail again (a certificate not trusted,
    https to a plain-http server), not a connection cut during the handshake nor a
    certificate out of its dates (renewed soon, or the clock set)."""
    import ssl  # noqa: PLC0415 - loaded by urllib whenever TLS was tried

    cut = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLWantReadError)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return reason.verify_code not in _CERTIFICATE_DATES
    return isinstance(reason, ssl.SSLError) and not isinstance(reason, cut)


def _error_text(body: bytes, error: urllib.error.HTTPError) -> str:
    """What the server said: its ``error``, or a run's ``reason`` (a 503 while busy)."""
    try:
        answer = json.loads(body)
        return str(answer.get("error") or answer["reason"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"HTTP {error.code} {error.reason}"


class Spool:
    """Summaries waiting for a server, one durable file each, sent oldest first."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_spool()

    def entries(self) -> list[Path]:
        """The waiting entries, oldest first."""
        return self._with_suffix(".json")

    def set_aside(self) -> list[Path]:
        """The entries set aside as damaged (``*.damaged``), oldest first."""
        return self._with_suffix(".damaged")

    def _with_suffix(self, suffix: str) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == suffix)

    def keep(self, data: bytes, url: str, source: str) -> Path:
        """Keep a summary for ``url`` (fsynced before this returns); the same bytes for
        the same server are kept once."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = hashlib.sha256(f"{_endpoint(url)}\n{sha256}".encode()).hexdigest()[:32]
        for existing in self.entries():
            if existing.stem.endswith(key):
                return existing
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns():020d}-{key}.json"
        record = {"url": url, "source": source, "sha256": sha256,
                  "summary": base64.b64encode(data).decode("ascii")}  # fmt: skip
        write_durably(path, json.dumps(record).encode())
        return path

    def send(
        self, token: str, timeout: float = DEFAULT_TIMEOUT, url: str | None = None
    ) -> tuple[list[PushResult], int]:
        """Send every entry, oldest first, each to its server (or all to ``url``: the
        server moved); the entries of a server that cannot be reached, or that refuses the
        token, wait in order for it, and those of other servers go on.

        Returns the results of those the servers answered (their entries removed) and
        how many are still waiting. A damaged entry (or one kept for no server's URL) is
        set aside as ``*.damaged``, with a ``skipped`` result that says so.
        """
        results, left, _ = self.send_reporting(token, timeout, url)
        return results, left

    def send_reporting(
        self, token: str, timeout: float = DEFAULT_TIMEOUT, url: str | None = None
    ) -> tuple[list[PushResult], int, dict[str, str]]:
        """``send``, and why each server (its submit URL) whose entries wait could not be
        reached."""
        if url is not None:
            _server(url)  # a typo: PushRefusedError, before any entry is tried
        results: list[PushResult] = []
        unreachable: dict[str, str] = {}
        left = 0
        for path in self.entries():
            try:
                record = json.loads(read_regular(path, _ENTRY_MAX_BYTES))
                data = base64.b64decode(record["summary"], validate=True)
                server, source = url or _server(str(record["url"])), str(record["source"])
            except FileNotFoundError:  # sent meanwhile by another push sharing the spool
                continue
            except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
                if _unreadable_now(error):  # not the entry's fault: set aside, it would
                    left += 1  # never be sent
                    continue
                if _set_aside(path):
                    results.append(set_aside_result(path.with_suffix(".damaged")))
                continue
            if _endpoint(server) in unreachable:  # an earlier entry waits: so does this one
                left += 1
                continue
            try:
                answer = _post(server, data, token, source, timeout)
            except _NoServerHere as refused:  # no gatewatch server there: this entry is
                if _set_aside(path):  # set aside, and the rest for it wait (a portal's page
                    # may be gone later: it set aside every entry queued for that server)
                    results.append(PushResult(path.name, "skipped", reason=f"{refused}; set aside"))
                unreachable[_endpoint(server)] = _Refused(refused)
                continue
            except PushRefusedError as refused:  # the token (rotated?): its entries wait,
                unreachable[_endpoint(server)] = _Refused(refused)  # the others' go on
                left += 1
                continue
            if isinstance(answer, str):
                unreachable[_endpoint(server)] = answer
                left += 1
                continue
            results.append(answer)
            path.unlink(missing_ok=True)  # or sent by another push too: a duplicate there
            fsync_dir(self.folder)
        return results, left, unreachable


class _Refused(str):
    """Why a server's spool entries wait: it refused the token. A summary pushed to it now
    is tried (and refused, with PushRefusedError), never spooled behind them."""


def _unreadable_now(error: BaseException) -> bool:
    """Whether reading a spool entry failed for a reason of the reader's now (no file
    handles, no permission), not of the entry (a FIFO, too big, not ours: PushRefusedError
    for the server it names)."""
    return (
        isinstance(error, OSError)
        and not isinstance(error, PushRefusedError)
        and not not_ours(error)
    )


def _set_aside(path: Path) -> bool:
    """Rename a spool entry that cannot be sent to ``*.damaged``; False when another push
    sharing the spool took it first."""
    try:
        os.replace(path, path.with_suffix(".damaged"))
    except FileNotFoundError:
        return False
    return True


def set_aside_result(aside: Path) -> PushResult:
    """What became of a spool entry set aside as damaged (``aside``, its new name)."""
    reason = f"a spool entry that cannot be sent, set aside as {aside}"
    return PushResult(aside.with_suffix(".json").name, "skipped", reason=reason)


def _summary_bytes(summary: Summaryish) -> tuple[bytes, str | None]:
    """The bytes to send and, for a file, its name."""
    if isinstance(summary, Mapping):
        return json.dumps(summary, allow_nan=True).encode(), None
    if isinstance(summary, bytes | bytearray):
        return bytes(summary), None
    if isinstance(summary, str):
        return summary.encode(), None
    path = Path(summary)
    # A symlink the sender names is followed, but never to a FIFO (it would block) nor a
    # device (/dev/zero would fill the memory).
    return read_regular(os.path.realpath(path), _SUMMARY_MAX_BYTES), str(path)


def push(
    summary: Summaryish,
    *,
    url: str,
    token: str | None = None,
    spool: str | os.PathLike[str] | None = None,
    source: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    spool_to: str | None = None,
) -> PushResult:
    """Send one summary (a dict, JSON bytes or text, or a file's path) to the gatewatch
    server at ``url``; return what became of it.

    ``token`` is the server's submit token (default: ``$GATEWATCH_SUBMIT_TOKEN``). Summaries
    kept earlier are sent first, in order (what became of them: the result's ``earlier``).
    When the server cannot be reached the summary is kept in ``spool`` (default:
    ``default_spool()``) and the result is ``spooled`` (``failed`` if the spool cannot be
    written); it is sent by the next call, each
    to the server it was kept for (or all to ``spool_to``). Summaries kept for a server
    that is down never hold back those for another.
    Raises PushRefusedError when the server refuses the token, the token cannot be sent,
    or ``url`` is not an http(s) URL or answers as no gatewatch server (a 4xx, a 501, a
    TLS error other than a certificate out of its dates, an answer that is not HTTP).
    """
    _server(url)
    token = token or os.environ.get(TOKEN_ENV)
    if not token or not token.strip():
        raise PushRefusedError(f"no submit token: pass token= or set ${TOKEN_ENV}")
    _bearer(token)
    data, name = _summary_bytes(summary)
    source = source or name or "push"
    waiting = Spool(spool)
    earlier, _, unreachable = waiting.send_reporting(token, timeout, spool_to)
    # Summaries kept for this server wait, in order, when it cannot be reached: so does
    # this one. Those kept for other servers hold nothing back.
    endpoint = _endpoint(url)
    waiting_for = unreachable.get(endpoint)
    answer = (
        waiting_for if waiting_for is not None and not isinstance(waiting_for, _Refused)
        else _post(url, data, token, source, timeout)
    )  # fmt: skip
    if isinstance(answer, PushResult):
        return dataclasses.replace(answer, earlier=tuple(earlier))
    try:
        waiting.keep(data, url, source)
    except OSError as error:  # neither sent nor kept: the caller still has the summary
        reason = (
            f"the server cannot be reached ({answer}), and the spool cannot keep it: "
            f"{waiting.folder}: {error.strerror or error}"
        )
        return PushResult(source, "failed", reason=reason, earlier=tuple(earlier))
    reason = f"the server cannot be reached: {answer}"
    return PushResult(source, "spooled", reason=reason, earlier=tuple(earlier))
