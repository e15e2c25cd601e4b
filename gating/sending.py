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
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gating.archive.durable import fsync_dir, not_ours, read_regular, write_durably
from gating.errors import PushRefusedError
from gating.posting import (
    NoServerHere,
    PushResult,
    bearer,
    endpoint,
    post_summary,
    server_url,
)

__all__ = ["TOKEN_ENV", "PushResult", "Spool", "default_spool", "push"]

TOKEN_ENV = "GATEWATCH_SUBMIT_TOKEN"  # noqa: S105 - the variable that holds it, not a token
DEFAULT_TIMEOUT = 30.0
_ENTRY_MAX_BYTES = 1 << 30  # a spool entry is read back whole: never more than this
_SUMMARY_MAX_BYTES = 256 * 1024 * 1024  # a file sent is read whole (a server takes 16 MiB)

Summaryish = Mapping[str, Any] | bytes | bytearray | str | os.PathLike[str]


def default_spool() -> Path:
    """``$XDG_CACHE_HOME/gatewatch/spool`` (``~/.cache/gatewatch/spool`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "gatewatch" / "spool"


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
        key = hashlib.sha256(f"{endpoint(url)}\n{sha256}".encode()).hexdigest()[:32]
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
        self,
        token: str,
        timeout: float = DEFAULT_TIMEOUT,
        url: str | None = None,
        unreachable: dict[str, str] | None = None,
    ) -> tuple[list[PushResult], int, dict[str, str]]:
        """``send``, and why each server (its submit URL) whose entries wait could not be
        reached. Servers already in ``unreachable`` (found so by this caller a moment ago)
        are not tried again: their entries wait."""
        if url is not None:
            server_url(url)  # a typo: PushRefusedError, before any entry is tried
        results: list[PushResult] = []
        unreachable = {} if unreachable is None else unreachable
        left = 0
        for path in self.entries():
            try:
                record = json.loads(read_regular(path, _ENTRY_MAX_BYTES))
                data = base64.b64decode(record["summary"], validate=True)
                server, source = url or server_url(str(record["url"])), str(record["source"])
            except FileNotFoundError:  # sent meanwhile by another push sharing the spool
                continue
            except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
                if _unreadable_now(error):  # not the entry's fault: set aside, it would
                    left += 1  # never be sent
                    continue
                if _set_aside(path):
                    results.append(set_aside_result(path.with_suffix(".damaged")))
                continue
            if endpoint(server) in unreachable:  # an earlier entry waits: so does this one
                left += 1
                continue
            try:
                answer = post_summary(server, data, token, source, timeout)
            except NoServerHere as refused:  # no gatewatch server there: this entry is
                if _set_aside(path):  # set aside, and the rest for it wait (a portal's page
                    # may be gone later: it set aside every entry queued for that server)
                    results.append(PushResult(path.name, "skipped", reason=f"{refused}; set aside"))
                unreachable[endpoint(server)] = _Refused(refused)
                continue
            except PushRefusedError as refused:  # the token (rotated?): its entries wait,
                unreachable[endpoint(server)] = _Refused(refused)  # the others' go on
                left += 1
                continue
            if isinstance(answer, str):
                unreachable[endpoint(server)] = answer
                left += 1
                continue
            if not answer.kept_there:  # refused as too large: this entry is its only copy
                if _set_aside(path):
                    aside = path.with_suffix(".damaged")
                    results.append(
                        dataclasses.replace(answer, reason=f"{answer.reason}; set aside as {aside}")
                    )
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
    """The bytes to send and, for a file, its source: ``host:/absolute/path``."""
    if isinstance(summary, Mapping):
        return json.dumps(summary, allow_nan=True).encode(), None
    if isinstance(summary, bytes | bytearray):
        return bytes(summary), None
    if isinstance(summary, str):
        return summary.encode(), None
    path = Path(summary)
    # A symlink the sender names is followed, but never to a FIFO (it would block) nor a
    # device (/dev/zero would fill the memory).
    data = read_regular(os.path.realpath(path), _SUMMARY_MAX_BYTES)
    # Named by host and absolute path: runs sent from several GPU hosts, or from one
    # folder's relative name, are told apart in the archive.
    return data, f"{socket.gethostname()}:{os.path.abspath(path)}"


def push(
    summary: Summaryish,
    *,
    url: str,
    token: str | None = None,
    spool: str | os.PathLike[str] | None = None,
    source: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    spool_to: str | None = None,
    unreachable: dict[str, str] | None = None,
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
    A caller pushing many summaries passes one ``unreachable`` dict to every call: a
    server found unreachable (a hung one takes ``timeout`` to say so) is not tried again,
    and what is for it is spooled at once.
    Raises PushRefusedError when the server refuses the token, the token cannot be sent,
    or ``url`` is not an http(s) URL or answers as no gatewatch server (a 4xx, a 501, a
    TLS error other than a certificate out of its dates, an answer that is not HTTP); its
    ``earlier`` holds what became of the spool's summaries sent before.
    """
    server_url(url)
    token = token or os.environ.get(TOKEN_ENV)
    if not token or not token.strip():
        raise PushRefusedError(f"no submit token: pass token= or set ${TOKEN_ENV}")
    bearer(token)
    data, name = _summary_bytes(summary)
    source = source or name or "push"
    waiting = Spool(spool)
    earlier, _, unreachable = waiting.send_reporting(token, timeout, spool_to, unreachable)
    # Summaries kept for this server wait, in order, when it cannot be reached: so does
    # this one. Those kept for other servers hold nothing back.
    waiting_for = unreachable.get(endpoint(url))
    try:
        answer = (
            waiting_for if waiting_for is not None and not isinstance(waiting_for, _Refused)
            else post_summary(url, data, token, source, timeout)
        )  # fmt: skip
    except PushRefusedError as refused:
        refused.earlier = tuple(earlier)
        raise
    if isinstance(answer, PushResult):
        return dataclasses.replace(answer, earlier=tuple(earlier))
    unreachable[endpoint(url)] = answer  # the caller's next summary for it: spooled at once
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
