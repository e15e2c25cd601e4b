"""structlog setup: JSON lines on stdout (pretty on a TTY), stdlib logs in the same format."""

from __future__ import annotations

import errno
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import structlog

from daemon.text import visible

__all__ = ["WatchdogNoise", "configure_logging", "elapsed_ms", "get_logger", "quiet_psycopg"]

OVERFLOW_EVERY_SECONDS = 60.0


def quiet_psycopg(level: int = logging.NOTSET) -> None:
    """Keep psycopg's errors only (``level`` if higher): its pool warns at each failed
    connection while PostgreSQL is away, a dozen multi-line warnings an outage (on a
    command's stderr, before its one line), where our own lines say so once."""
    logging.getLogger("psycopg").setLevel(max(logging.ERROR, level))


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib's logging (watchdog, APScheduler) to one renderer."""
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty(), timestamp_key="time")
        if console
        else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # The gating library logs through the stdlib with its fields in ``extra``.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _no_colors],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if not console else _visible,
            renderer,
        ],
    )
    handler = _Handler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(WatchdogNoise())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # A Python warning (watchdog's RuntimeWarning, say) is a log line too: as raw text it
    # broke the JSON lines.
    logging.captureWarnings(True)
    # A thread's uncaught exception too (the worker's, the observer's): Python printed its
    # traceback as plain text, so `jq` over the journal failed on the very incident.
    threading.excepthook = _thread_crashed
    # APScheduler narrates every job run at INFO; keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    # watchdog logs every inotify event at DEBUG: far too much even for debugging us.
    logging.getLogger("watchdog").setLevel(max(logging.INFO, root.level))
    quiet_psycopg(root.level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that drops its lines once the stream's reader is gone (`| head`,
    journald restarted): it printed a traceback for every line after, to stderr."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            return
        super().handleError(record)


class WatchdogNoise(logging.Filter):
    """Drops watchdog's warnings the service says better itself: one per folder past the
    inotify watch limit (a line for each of 61,021 folders; ``watch_limit_reached`` says
    it once and status.json counts them), and a queue overflow's, kept once a minute (176
    lines in 30 s under a writer that overflowed the queue again and again)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._said: dict[str, float] = {}  # an overflow message -> when last let through

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("watchdog."):
            return True
        message, args = str(record.msg), record.args
        if message.startswith("Unable to watch") and isinstance(args, tuple) and args:
            return getattr(args[-1], "errno", None) != errno.ENOSPC
        if "overflowed" in message:
            now, said = self._clock(), self._said.get(message)
            if said is not None and now - said < OVERFLOW_EVERY_SECONDS:
                return False
            self._said[message] = now
        return True


def _no_colors(_: Any, __: str, event_dict: Any) -> Any:
    """uvicorn logs each message twice, the copy in ``color_message`` with terminal colour
    codes (raw escapes in every JSON line of `serve`): it is dropped."""
    event_dict.pop("color_message", None)
    return event_dict


def _visible(_: Any, __: str, event_dict: Any) -> Any:
    """On a console, each text field with its control characters escaped (JSON escapes
    them itself): a file named with terminal sequences drove the operator's terminal, as
    the console renderer prints a text without spaces or quotes as it is."""
    return {key: visible(v) if isinstance(v, str) else v for key, v in event_dict.items()}


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    """A thread's uncaught exception as one line: ``thread_crashed``, at error, with the
    error and its traceback (``exception``)."""
    if args.exc_type is SystemExit:
        return
    get_logger().error(
        "thread_crashed",
        thread=args.thread.name if args.thread is not None else None,
        error=f"{args.exc_type.__name__}: {args.exc_value}",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def get_logger(name: str = "gatewatch") -> Any:
    """A structlog logger bound to ``name``."""
    return structlog.stdlib.get_logger(name)


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a time.perf_counter() reading), as log lines carry them."""
    return round((time.perf_counter() - started) * 1000, 3)
