"""One summary POSTed to a gatewatch server's /api/runs, and what its answer means: a
result, a reason to keep it for later, or PushRefusedError when it can never be sent so."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from gating.bounded_http import ANSWER_MAX_BYTES, OPENER, read_answer
from gating.errors import PushRefusedError

__all__ = ["NoServerHere", "PushResult", "bearer", "endpoint", "post_summary", "server_url"]

_ANSWERS = {"archived", "duplicate", "rejected", "skipped"}
_STORED = {"archived", "duplicate"}  # answers that name the run (its timestamp)


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
    # Whether the server holds the bytes (archived, a duplicate, or rejected into its
    # _rejected/); one refused as too large (a 413, perhaps from a proxy) is not kept there.
    kept_there: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The result as `archive --json` and POST /api/runs show one file."""
        return {"source": self.source, "outcome": self.outcome, "timestamp": self.timestamp,
                "reason": self.reason}  # fmt: skip


def server_url(url: str) -> str:
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
            "a server's URL holds no user or password (a summary spooled for it would keep "
            "them on disk): the submit token is the credential"
        )
    return url


def bearer(token: str) -> str:
    """The token as a header can carry it: surrounding whitespace (a token file's newline)
    dropped; PushRefusedError if it holds other characters a header cannot (never shown)."""
    token = token.strip()
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise PushRefusedError(
            "the submit token holds characters a header cannot carry (a newline, a space, "
            "or letters beyond ASCII): copy it again"
        )
    return token


def header_text(source: str) -> str:
    """A source name as a header's value: controls escaped, UTF-8 bytes (HTTP sends a
    header's characters as Latin-1 bytes, so a name in another script failed to send)."""
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in source)[:1000]
    return printable.encode("utf-8", "backslashreplace").decode("latin-1")


def endpoint(url: str) -> str:
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


class NoServerHere(PushRefusedError):
    """The URL answers, but not as a gatewatch server (a 404, a TLS error): a spool entry
    kept for it is set aside, never a reason to hold the others (a wrong token is)."""


def post_summary(
    url: str, data: bytes, token: str, source: str, timeout: float
) -> PushResult | str:
    """Send one summary; its result, or (a string) why the server could not be reached
    now. PushRefusedError when it can never be sent so: the token refused, or an answer
    that says the URL is not a gatewatch server's (a 404, a 501, a TLS error, no HTTP)."""
    where = endpoint(url)
    request = urllib.request.Request(  # noqa: S310 - the operator's http(s) URL
        where,
        data=data,
        method="POST",
        headers={
            "Authorization": f"Bearer {bearer(token)}",
            "Content-Type": "application/json",
            "X-Gatewatch-Source": header_text(source),
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
            raise PushRefusedError(f"{where}: {_error_text(body, error)}") from None
        if error.code == 413:
            return PushResult(source, "rejected", reason=_error_text(body, error), kept_there=False)
        if error.code in _TRANSIENT or (error.code >= 500 and error.code != _NOT_IMPLEMENTED):
            return f"HTTP {error.code}: {_error_text(body, error)}"  # kept for later
        if error.code != 422:
            raise NoServerHere(
                f"{where}: {_error_text(body, error)}: is it a gatewatch server's URL?"
            ) from None
    except urllib.error.URLError as error:
        if _never_secure(error.reason):
            raise NoServerHere(f"{where}: {error.reason}") from None
        return str(error.reason)  # refused, unreachable, timed out
    except (OSError, http.client.IncompleteRead) as error:  # the connection dropped, or
        return str(error) or type(error).__name__  # timed out while reading
    except (http.client.HTTPException, ValueError) as error:  # not HTTP (an SSH banner),
        raise NoServerHere(f"{where}: {error!r} is not an HTTP answer") from None
    if len(body) > ANSWER_MAX_BYTES:  # read no further: a stream without end, or cut
        return f"an answer that is not gatewatch's: longer than {ANSWER_MAX_BYTES} bytes"
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = body[:200].decode("utf-8", "replace")
    if not _is_answer(answer):  # another web server there (it was spooled, for ever)
        raise NoServerHere(
            f"{where}: an answer that is not gatewatch's ({str(answer)[:200]!r}): "
            "is it a gatewatch server's URL?"
        ) from None
    return PushResult(source, str(answer["outcome"]), answer.get("timestamp"), answer.get("reason"))


def _is_answer(answer: object) -> bool:
    """Whether a decoded answer is a gatewatch server's: its outcome, and a timestamp and
    reason each text or absent (a dict for a timestamp was printed as archived {...}), the
    timestamp there when it says archived or duplicate (printed as `archived None`)."""
    return (
        isinstance(answer, dict)
        and answer.get("outcome") in _ANSWERS
        and all(isinstance(answer.get(key), str | None) for key in ("timestamp", "reason"))
        and (answer["outcome"] not in _STORED or isinstance(answer.get("timestamp"), str))
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
