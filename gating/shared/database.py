"""Connections to the shared archive's PostgreSQL: a pool, timeouts, and retrying.

The URL never holds a password: libpq reads it from ``PGPASSWORD`` or the file
``PGPASSFILE`` names (default ``~/.pgpass``). Every session sets ``statement_timeout``
and ``idle_in_transaction_session_timeout``, so a stuck statement or a forgotten
transaction cannot hold a lock for long. A connection lost (PostgreSQL restarted) is
replaced; ``retrying`` runs a transaction again with backoff until a deadline.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from gating.errors import ArchiveError, GatingConfigError

__all__ = ["Database", "check_url", "first_line", "shown_url"]

_T = TypeVar("_T")
STATEMENT_TIMEOUT_MS = 60_000
IDLE_IN_TRANSACTION_MS = 60_000
RETRY_SECONDS = 60.0  # how long a transaction is retried while PostgreSQL is away
AWAY_WAIT_SECONDS = 1.0  # how long one waits for a connection once the last gave up
# A connection unused this long is closed (psycopg_pool keeps one 10 min): a service that
# once used four kept them, and with a low max_connections the other hosts failed every
# file with "too many clients" meanwhile.
IDLE_SECONDS = 30.0


def check_url(url: str) -> str:
    """The URL when it names a PostgreSQL database without a password; else one line,
    which never quotes the URL until it is known to hold no password (a key=value string,
    a ``?password=`` or a bad %-escape beside one were printed whole, password and all)."""
    try:
        parts = urlsplit(url)
        options = conninfo_to_dict(url) if parts.scheme in ("postgresql", "postgres") else {}
    except (ValueError, psycopg.ProgrammingError):  # "[::1:5432", "%zz": nothing quoted
        raise GatingConfigError(
            "archive.url: not a URL PostgreSQL can read (a bracket or a %-escape out of "
            "place?): postgresql://USER@HOST:PORT/DBNAME"
        ) from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise GatingConfigError(
            "archive.url: not a postgresql:// URL (a key=value string is not taken either): "
            "postgresql://USER@HOST:PORT/DBNAME"
        )
    if parts.password is not None or "password" in options:
        raise GatingConfigError(
            "archive.url: holds a password; put it in $PGPASSWORD or a PGPASSFILE instead"
        )
    if not parts.path.strip("/"):
        raise GatingConfigError(f"archive.url: {url!r} names no database (…/DBNAME)")
    return url


def first_line(error: Exception) -> str:
    """A database error's message without the lines PostgreSQL adds under it (the
    statement quoted with a caret, DETAIL, HINT): one line, as every error of ours."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def shown_url(url: str) -> str:
    """Where a URL leads, as a line names it: host:port/database, as libpq reads them (the
    host and port in the query, ``?host=/run/postgresql&port=5433``, or from ``PGHOST`` and
    ``PGPORT``), never the user."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # check_url refuses such a URL before it comes here
        parts = {}
    host = parts.get("host") or os.environ.get("PGHOST") or "localhost"
    port = parts.get("port") or os.environ.get("PGPORT") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or urlsplit(url).path.strip('/')}"


# Operational errors that trying again will not mend: a full disk, a row past an index's
# limit (a symbol of 4,000 bytes was retried for a minute at each attempt, holding up every
# other file), a statement cut at statement_timeout (it would wait as long again).
_NEVER_BETTER = (
    psycopg.errors.DiskFull,
    psycopg.errors.ProgramLimitExceeded,
    psycopg.errors.QueryCanceled,
)


class _Unreachable(ArchiveError):
    """No connection could be had in the pool's wait: PostgreSQL is away."""


class Database:
    """A small pool of connections to one database, opened lazily."""

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 4,
        retry_seconds: float = RETRY_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.url = check_url(url)
        self.where = shown_url(url)
        self.retry_seconds = retry_seconds
        options = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
            f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS} "
            "-c timezone=UTC"
        )
        self._pool = ConnectionPool(
            url,
            min_size=0,
            max_size=max_size,
            kwargs={"options": options, "application_name": "gatewatch", "connect_timeout": 10},
            check=ConnectionPool.check_connection,
            open=False,
            # A connection is waited for 5 s at most (``retrying`` asks again until its own
            # deadline), and each chain of connection attempts (1, 2, 4 ... s apart) gives
            # up after 10 s, the next wait starting a new one: with 30 s and psycopg_pool's
            # 300 s, PostgreSQL back was found 20 to 49 s late, and a dashboard that
            # retries 5 s answered after 30.
            timeout=min(5.0, max(1.0, retry_seconds)),
            reconnect_timeout=10.0,
            max_idle=idle_seconds,
        )
        self._opened = False
        # Why the last ``retrying`` gave up, until one succeeds: the database is away, and
        # the next call tries once, briefly (a service's worker with a backlog of files
        # waited the whole retry_seconds on each, one after another).
        self._away: str | None = None

    @contextmanager
    def connection(
        self, *, explain: bool = True, wait: float | None = None
    ) -> Iterator[psycopg.Connection]:
        """A pooled connection (checked before it is handed out, waited for ``wait``
        seconds or the pool's timeout); ArchiveError when the database cannot be reached,
        saying why (with ``explain``: see _why_unreachable; ``retrying`` asks why only
        when it gives up)."""
        if not self._opened:
            self._pool.open(wait=False)
            self._opened = True
        try:
            with self._pool.connection(timeout=wait) as connection:
                yield connection
        except PoolTimeout as error:
            why = self._why_unreachable() if explain else f"cannot connect: {error}"
            raise _Unreachable(f"{self.where}: {why}") from None

    def retrying(self, work: Callable[[psycopg.Connection], _T]) -> _T:
        """Run ``work`` in a transaction; when the connection is lost (a restart, a
        network cut) run it again, with backoff, for up to ``retry_seconds``. Once a call
        has given up, the next ones try once, waiting AWAY_WAIT_SECONDS for a connection,
        until one succeeds.

        ``work`` must be safe to run twice: a commit whose outcome was lost is run again
        and finds itself done (the same bytes are a duplicate of themselves). A full disk,
        and any other database error, is one ArchiveError line at once.
        """
        away = self._away
        wait = None if away is None else AWAY_WAIT_SECONDS
        deadline = time.monotonic() + (self.retry_seconds if away is None else 0.0)
        delay = 0.1
        while True:
            try:
                with (
                    self.connection(explain=False, wait=wait) as connection,
                    connection.transaction(),
                ):
                    result = work(connection)
                self._away = None
                return result
            except _NEVER_BETTER as error:  # no sooner over by trying again
                raise ArchiveError(f"{self.where}: {first_line(error)}") from None
            except (psycopg.OperationalError, psycopg.InterfaceError, _Unreachable) as error:
                if time.monotonic() + delay > deadline:
                    raise self._gave_up(error) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)
            except psycopg.Error as error:
                raise ArchiveError(f"{self.where}: {first_line(error)}") from None

    def _gave_up(self, error: Exception) -> ArchiveError:
        """The one line for a transaction retried in vain; remembers that the database is
        away (why it cannot be reached is asked once, not at each call while it is)."""
        if isinstance(error, _Unreachable):
            why = self._away if self._away is not None else self._why_unreachable()
            self._away = why
            return _Unreachable(f"{self.where}: {why}")
        self._away = first_line(error)
        return ArchiveError(f"{self.where}: {self._away}")

    def _why_unreachable(self) -> str:
        """Why no pooled connection came in time, in one line, from one attempt of our own
        (refused, no such host, a password refused ...: the pool says only that it timed
        out); if that attempt connects, every pooled connection is in use."""
        try:
            psycopg.connect(self.url, connect_timeout=2, application_name="gatewatch").close()
        except psycopg.Error as error:
            return f"cannot connect: {' '.join(str(error).split())}"
        stats = self._pool.get_stats()
        if stats.get("pool_size", 0) >= self._pool.max_size and not stats.get("pool_available"):
            return "cannot connect: every pooled connection is in use"
        return "cannot connect: no connection came in time"

    def close(self) -> None:
        """Close every connection."""
        if self._opened:
            self._pool.close()
            self._opened = False
