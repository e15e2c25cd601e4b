"""Notifications of a shared archive: every service may send, one at a time per target.

The events are rows of the database's ``events`` table, in commit order. A target's place
(its cursor) is a row of ``deliveries``, held by one service at a time under a lease:
a service takes a free or expired lease (claimed ``FOR UPDATE SKIP LOCKED``, so two never
wait on each other), which adds one to its epoch; every move of the cursor names that
epoch, so a holder that stalled past its lease (fenced) can no longer move it and stops.
LISTEN/NOTIFY only wakes the senders up; they also poll. Delivery stays at-least-once (a
holder killed after a delivery, before its cursor moved: the next one sends it again, with
the same Idempotency-Key).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import psycopg

from daemon.notify.sender import TargetSender
from gating.archive.outbox import Cursor, stored_event
from gating.shared.database import Database

__all__ = ["LEASE_SECONDS", "SharedEvents", "SharedTargetSender"]

LEASE_SECONDS = 5.0  # how long a holder keeps a target without renewing
_RENEW_SECONDS = LEASE_SECONDS / 3
_WAIT_SECONDS = 1.0  # how often a service without the lease looks again
# How long the holder, idle, waits before it looks again: LISTEN wakes it at each commit,
# so the poll is only a safety net (every 0.1 s, three targets made 65 transactions a
# second on an idle database, per service).
_IDLE_SECONDS = 1.0


class SharedEvents:
    """The database's outbox as the senders see it: a wake-up, counts for `notify status`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.appended = threading.Condition()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def cursor(self, _target: str) -> Cursor:
        """A folder cursor means nothing here (the shared sender keeps its own)."""
        return Cursor()

    def flush(self) -> None:
        """Start listening for commits (a wake-up; the senders poll as well)."""
        if self._listener is None:
            self._listener = threading.Thread(
                target=self._listen, name="gatewatch-notify-listen", daemon=True
            )
            self._listener.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.database.url, autocommit=True, connect_timeout=5) as c:
                    c.execute("LISTEN gatewatch_events")
                    while not self._stop.is_set():
                        for _ in c.notifies(timeout=1.0, stop_after=1):
                            with self.appended:
                                self.appended.notify_all()
            except psycopg.Error:
                self._stop.wait(1.0)  # PostgreSQL is away: the senders' poll goes on

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()

    def counts(self, target: str, wanted: Any) -> dict[str, int]:
        """pending (wanted events after the cursor), failed and delivered counts."""

        def work(connection: psycopg.Connection) -> dict[str, int]:
            row = connection.execute(
                "SELECT cursor, delivered, failed FROM deliveries WHERE target = %s", (target,)
            ).fetchone()
            cursor, delivered, failed = row if row is not None else (0, 0, 0)
            bodies = connection.execute(
                "SELECT body FROM events WHERE position > %s", (cursor,)
            ).fetchall()
            pending = sum(1 for (body,) in bodies if wanted(stored_event(body)))
            return {"pending": pending, "failed": int(failed), "delivered": int(delivered)}

        counted: dict[str, int] = self.database.retrying(work)
        return counted

    def size(self) -> tuple[int, int]:
        """(events, bytes) in the database's outbox."""
        rows = self.database.retrying(
            lambda c: c.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM events"
            ).fetchall()
        )
        return int(rows[0][0]), int(rows[0][1])


class SharedTargetSender(TargetSender):
    """TargetSender over the database: the target's lease, then its events in order."""

    outbox: SharedEvents
    idle_seconds = _IDLE_SECONDS

    def __init__(self, outbox: SharedEvents, *args: Any, **kwargs: Any) -> None:
        super().__init__(outbox, *args, **kwargs)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.epoch: int | None = None
        self.position = 0  # the cursor: the last event passed
        self._at = 0  # the event being sent
        self.renewed = 0.0
        # A move of the cursor past an event handled that the database refused: made before
        # anything is sent again (the event went again every second, for ever).
        self._move: tuple[int, int, int] | None = None

    def _claim(self, connection: psycopg.Connection) -> tuple[int, int] | None:
        """Hold the lease (taken, renewed or kept): (epoch, cursor), or None."""
        connection.execute(
            "INSERT INTO deliveries (target) VALUES (%s) ON CONFLICT DO NOTHING",
            (self.target.name,),
        )
        row = connection.execute(
            "SELECT epoch, holder, lease_until > clock_timestamp(), cursor FROM deliveries "
            "WHERE target = %s FOR UPDATE SKIP LOCKED",
            (self.target.name,),
        ).fetchone()
        if row is None:
            return None  # another service is claiming it right now
        epoch, holder, valid, cursor = row
        mine = holder == self.holder and epoch == self.epoch
        if valid and not mine:
            return None
        if not mine:
            epoch += 1
        connection.execute(
            "UPDATE deliveries SET holder = %s, epoch = %s, "
            "lease_until = clock_timestamp() + make_interval(secs => %s) WHERE target = %s",
            (self.holder, epoch, LEASE_SECONDS, self.target.name),
        )
        return int(epoch), int(cursor)

    def _leased(self) -> bool:
        """Whether this service holds the target now (claiming or renewing when due)."""
        now = self.clock()
        if self.epoch is not None and now - self.renewed < _RENEW_SECONDS:
            return True
        claimed = self.outbox.database.retrying(self._claim)
        if claimed is None:
            self.epoch = None
            return False
        epoch, cursor = claimed
        if epoch != self.epoch:  # newly taken: start from the cursor the last holder left
            self.epoch, self.position = epoch, cursor
            self.attempts, self.first_failed, self.next_at, self.last_error = 0, 0.0, 0.0, None
            self._log("info", "notify_lease_taken", epoch=epoch, cursor=cursor)
        self.renewed = now
        return True

    def _current(self) -> tuple[Any, ...] | None:
        if not self._leased():
            return None
        row = self.outbox.database.retrying(
            lambda c: c.execute(
                "SELECT position, body FROM events WHERE position > %s ORDER BY position LIMIT 1",
                (self.position,),
            ).fetchone()
        )
        if row is None:
            return None
        event = stored_event(row[1])
        self._at = int(row[0])
        return self._at, event

    def _advance(self, *, delivered: int = 0, failed: int = 0) -> None:
        self._move = (self._at, delivered, failed)
        self._make_move()

    def _make_move(self) -> None:
        """Move the cursor past the event handled (ArchiveError keeps the move for the next
        step, which makes it before sending anything)."""
        assert self._move is not None
        position, delivered, failed = self._move

        def work(connection: psycopg.Connection) -> int:
            return connection.execute(
                "UPDATE deliveries SET cursor = %s, delivered = delivered + %s, "
                "failed = failed + %s WHERE target = %s AND holder = %s AND epoch = %s",
                (position, delivered, failed, self.target.name, self.holder, self.epoch),
            ).rowcount

        moved = self.outbox.database.retrying(work)
        self._move = None
        self.attempts, self.first_failed, self.next_at, self.last_error = 0, 0.0, 0.0, None
        if not moved:  # fenced: another service took the target over
            self._log("warning", "notify_lease_lost", epoch=self.epoch)
            self.epoch = None
            return
        self.position = position

    def _keep_failed(self, found: tuple[Any, ...], error: str) -> object:
        position, _ = found
        self.outbox.database.retrying(
            lambda c: c.execute(
                "INSERT INTO failed_events VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (self.target.name, position, error, self.attempts,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
        )  # fmt: skip
        return f"failed_events ({self.target.name}, {position})"

    def step(self) -> float:
        """TargetSender.step while holding the lease (a cursor move the database refused
        first); else look again in a moment. A failing database raises ArchiveError: the
        Sender's loop tries again after 1, 2, 4 ... 30 s, as for a failing disk."""
        if self._move is not None:
            self._make_move()
            return 0.0
        delay = super().step()
        return delay if self.epoch is not None else max(delay, _WAIT_SECONDS)
