"""The service's sender: per target, deliver the outbox's events in order, retrying with backoff.

``TargetSender.step`` does one unit of work and says when it wants to run again, so the
tests drive it with a fake clock and a fake transport; ``Sender`` runs one thread per
target (a receiver that hangs holds up only its own target, never the archive) and stops
within a fraction of a second when asked.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from daemon.notify.backoff import RetryPolicy, next_attempt
from daemon.notify.settings import NotifySettings, Target
from daemon.notify.transport import Commands, Deliver, Result, deliver
from gating.archive.disk import DISK
from gating.archive.outbox import Cursor, stored_event
from gating.events import Event

__all__ = ["POLL_SECONDS", "Sender", "TargetSender"]

POLL_SECONDS = 0.1  # how often an idle target looks for new segments
_ERROR_WAIT_MAX = 30.0  # seconds between tries while the disk fails (1, 2, 4 ... 30)


class TargetSender:
    """Delivers one target's events in outbox order; not thread-safe (one thread each)."""

    idle_seconds = POLL_SECONDS  # how long an idle target waits before it looks again

    def __init__(
        self,
        outbox: Any,
        target: Target,
        *,
        peers: Sequence[str],
        policy: RetryPolicy,
        timeout: float,
        transport: Deliver = deliver,
        clock: Callable[[], float] = time.monotonic,
        log: Any = None,
        on_step: Callable[[str], None] = DISK.step,
    ) -> None:
        """``peers`` names every configured target: a segment is deleted once all passed it;
        ``on_step`` is called at named points (tests crash a service there)."""
        self.outbox = outbox
        self.target = target
        self.peers = tuple(peers)
        self.policy = policy
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        self.log = log
        self.on_step = on_step
        self.cursor = outbox.cursor(target.name)
        self._lines: list[bytes] = []  # the loaded segment's events, unparsed
        self._loaded: str | None = None  # the segment whose lines are in _lines
        self.attempts = 0
        self.first_failed = 0.0
        self.next_at = 0.0
        self.stopping = threading.Event()  # set as the service stops (its Sender's)
        self.last_error: str | None = None
        # Bookkeeping a full disk interrupted, finished before anything more is sent (sent
        # on, each event would go again after a restart, or be retried at once for ever).
        self._unsaved: Cursor | None = None  # the cursor past the last event handled
        self._giving_up: tuple[tuple[Any, ...], str] | None = None  # (found, last error)
        self._unreadable_in: Any = None  # the segment whose unreadable lines were logged

    def _current(self) -> tuple[Any, ...] | None:
        """The next event ahead of the cursor (segment, line, event), or None for now."""
        while True:
            c = self.cursor
            if self._loaded != c.segment:
                # Segments never change once written; a deleted one reads as empty.
                self._lines = self.outbox.lines(c.segment) if c.segment else []
                self._loaded = c.segment
            if c.line < len(self._lines):
                return c.segment, c.line, stored_event(self._lines[c.line])
            later = [name for name in self.outbox.segments() if name > c.segment]
            if not later:
                return None
            self.cursor = Cursor(later[0], 0, c.delivered, c.failed)

    def _advance(self, *, delivered: int = 0, failed: int = 0) -> None:
        c = self.cursor
        self._unsaved = Cursor(c.segment, c.line + 1, c.delivered + delivered, c.failed + failed)
        self._save()

    def _save(self) -> None:
        """Save the cursor past the event handled (OSError keeps it unsaved, for later)."""
        assert self._unsaved is not None
        self.outbox.save_cursor(self.target.name, self._unsaved)
        self.cursor, self._unsaved = self._unsaved, None
        self.attempts, self.first_failed, self.next_at, self.last_error = 0, 0.0, 0.0, None
        if self.cursor.line >= len(self._lines):
            self.outbox.prune(self.peers)

    def _give_up(self) -> None:
        """Keep the event given up on, say so, and move past it."""
        assert self._giving_up is not None
        found, error = self._giving_up
        path = self._keep_failed(found, error)
        self._giving_up = None
        event = found[-1]
        self._log_event(
            "error",
            "notify_failed",
            event,
            attempts=self.attempts,
            error=error,
            kept=str(path),
        )
        self._advance(failed=1)

    def _log(self, level: str, name: str, **fields: Any) -> None:
        if self.log is not None:
            getattr(self.log, level)(
                name, target=self.target.name, destination=self.target.destination, **fields
            )

    def _log_event(self, level: str, name: str, event: Event, **fields: Any) -> None:
        """_log of a step about one event, which it names by id and type."""
        self._log(level, name, event_id=event["id"], event_type=event.get("type"), **fields)

    def step(self) -> float:
        """Deliver (or give up on) at most one event; return seconds until the next step."""
        if self._giving_up is not None:
            self._give_up()
            return 0.0
        if self._unsaved is not None:
            self._save()
            return 0.0
        now = self.clock()
        if now < self.next_at:
            return self.next_at - now
        found = self._current()
        if found is None:
            return self.idle_seconds
        event = found[-1]
        if not event.get("id"):  # a line or row that is no event of ours: passed over
            if found[0] != self._unreadable_in:  # said once a segment (or a shared row)
                self._unreadable_in = found[0]
                self._log("warning", "notify_event_unreadable", at=repr(found[:-1]))
            self._advance()
            return 0.0
        if not self.target.wants(event):
            self._advance()
            return 0.0
        result = self._attempt(event)
        if not result.ok and self.stopping.is_set():
            return 0.0  # cut short by the stop (a command killed): sent again at the next start
        if result.ok:
            self.on_step("notify:delivered")  # sent, the cursor not yet past it
            self._advance(delivered=1)
            self._log_event(
                "debug",
                "notify_delivered",
                event,
                attempts=self.attempts + 1,
                detail=result.detail,
                duration_ms=result.duration_ms,
            )
            return 0.0
        self.attempts += 1
        if self.attempts == 1:
            self.first_failed = now
        self.last_error = result.detail
        at = next_attempt(self.attempts, self.first_failed, now, self.policy)
        if at is None:
            self._giving_up = (found, result.detail)
            self._give_up()
            return 0.0
        self.next_at = at
        self._log_event(
            "warning",
            "notify_retry",
            event,
            attempt=self.attempts,
            error=result.detail,
            retry_in_s=round(at - now, 3),
        )
        return at - now

    def _keep_failed(self, found: tuple[Any, ...], error: str) -> object:
        """Keep the event given up on, with its last error; where it was kept."""
        segment, line, event = found
        return self.outbox.keep_failed(
            self.target.name, segment, line, event, error=error, attempts=self.attempts
        )

    def _attempt(self, event: Event) -> Result:
        try:
            return self.transport(self.target, event, self.timeout)
        except Exception as error:  # a transport bug must not kill the thread
            return Result(False, f"{type(error).__name__}: {error}")


class Sender:
    """One thread per target running its TargetSender until ``stop``."""

    def __init__(
        self,
        outbox: Any,
        settings: NotifySettings,
        log: Any = None,
        *,
        transport: Deliver | None = None,
        clock: Callable[[], float] = time.monotonic,
        kind: type[TargetSender] = TargetSender,
        on_step: Callable[[str], None] = DISK.step,
    ) -> None:
        """Senders (``kind``) for every target of ``settings``, reading ``outbox`` (the
        folder's Outbox; in shared mode the database's, see ``shared_sender``);
        ``transport`` delivers (by default ``deliver``, its commands ended by ``stop``)."""
        names = [target.name for target in settings.targets]
        self.log = log
        self._commands = Commands()
        transport = transport or functools.partial(deliver, commands=self._commands)
        self.senders = [
            kind(
                outbox,
                target,
                peers=names,
                policy=settings.policy,
                timeout=settings.timeout_seconds,
                transport=transport,
                clock=clock,
                log=log,
                on_step=on_step,
            )
            for target in settings.targets
        ]
        self.outbox = outbox
        self._stop = threading.Event()
        for sender in self.senders:
            sender.stopping = self._stop
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start delivering."""
        if self.log is not None:
            self.log.info(
                "notify_started",
                targets=[
                    {"name": s.target.name, "destination": s.target.destination}
                    for s in self.senders
                ],
            )
        for sender in self.senders:
            thread = threading.Thread(
                target=self._loop,
                args=(sender,),
                name=f"gatewatch-notify-{sender.target.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self, sender: TargetSender) -> None:
        errors = 0
        while not self._stop.is_set():
            try:
                delay = sender.step()
                errors = 0
            except Exception as error:  # e.g. the disk: log, wait longer each time, go on
                errors += 1
                delay = min(_ERROR_WAIT_MAX, 2.0 ** (errors - 1))
                if self.log is not None:
                    self.log.error(
                        "notify_error",
                        target=sender.target.name,
                        error=str(error),
                        retry_in_s=delay,
                    )
            if delay == sender.idle_seconds and sender.next_at == 0.0:
                # Idle: wake up as soon as this process appends (other writers: the poll).
                with self.outbox.appended:
                    if not self._stop.is_set():
                        self.outbox.appended.wait(delay)
            elif delay > 0:
                self._stop.wait(delay)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop every thread, waiting at most ``timeout`` seconds in all (a delivery in
        flight is abandoned: its event is sent again at the next start)."""
        self._stop.set()
        with self.outbox.appended:
            self.outbox.appended.notify_all()
        deadline = time.monotonic() + timeout
        self._commands.close()  # a command in flight ends with the service (sent again later)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        close = getattr(self.outbox, "close", None)  # the shared outbox's listener
        if close is not None:
            close()

    def alive(self) -> bool:
        """Whether every thread still runs."""
        return all(thread.is_alive() for thread in self._threads)
