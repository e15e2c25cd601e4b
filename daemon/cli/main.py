"""The `gatewatch` command line: arguments, then one command, its errors as exit statuses."""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from daemon.cli.output import visible
from daemon.cli.parser import build_parser
from daemon.errors import (
    AlreadyRunningError,
    ConfigError,
    DaemonError,
    DocumentError,
    Refused,
    Terminated,
)
from daemon.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from gating.archive.disk import DISK, Disk
from gating.errors import (
    AmbiguousTimestampError,
    ArgumentError,
    DecisionError,
    GatingError,
    PushRefusedError,
    TimeFormatError,
)

if TYPE_CHECKING:
    from pathlib import Path

    from daemon.watcher import WatchEvent

__all__ = ["build_parser", "main"]

OwnerCheck = Callable[["Path", str], "str | None"]


def _handler(name: str) -> Callable[..., int]:
    """The function ``"module:function"`` names (its module imported now, not before)."""
    module, function = name.split(":")
    handler: Callable[..., int] = getattr(importlib.import_module(module), function)
    return handler


def _quiet_stdout() -> None:
    """After a reader closed the pipe (`gatewatch runs | head -1`): drop what is left."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(
    argv: Sequence[str] | None = None,
    *,
    owner_check: OwnerCheck | None = None,
    disk: Disk = DISK,
    watcher_sink: Callable[[WatchEvent], None] | None = None,
    retry_seconds: float | None = None,
) -> int:
    """Run one command; return its exit status (0 ok, 1 failed, 2 usage or config).

    ``owner_check`` says why a write command must not touch an archive (default: owned by
    another user or not writable); ``disk`` writes
    the archive's files and ``watcher_sink`` takes the service's watcher events (tests
    replace them: a disk that crashes or fails, a sink that loses events);
    ``retry_seconds``: how long the service retries a shared archive's transaction while
    PostgreSQL is away (default a minute; tests shorten it).
    """
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    args.owner_check = owner_check
    args.disk = disk
    args.watcher_sink = watcher_sink
    args.retry_seconds = retry_seconds
    args.opened = []  # the archive managers a command opened, closed at the end
    # SIGTERM (systemd, cron, kill) unwinds a command as Ctrl-C does: regate's workers
    # were left behind for good, export's staging folder blocked every later export.
    # `run` and `serve` put their own handlers in place.
    terminate = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if terminate else None
    try:
        if getattr(args, "needs_config", True) is False:
            config = None
        else:
            from daemon.config import load_config  # noqa: PLC0415 - after a usage error: none

            try:
                config = load_config(args.config)
            except ConfigError as error:
                if args.command != "status":
                    raise
                # The service may run on with the file it read before (a reload failed):
                # say what is wrong, then its status, from [archive] alone.
                config = load_config(args.config, only=("archive",))
                print(visible(f"gatewatch: {error} (status read from [archive] alone)"),
                      file=sys.stderr)  # fmt: skip
            if config.source is None and sys.stderr.isatty():  # a person, in another folder?
                print(
                    "gatewatch: no ./config.toml here: using the defaults (the archive "
                    "./training_archives); give --config FILE or set GATEWATCH_CONFIG",
                    file=sys.stderr,
                )
            if config.archive.url:  # shared mode only: a folder archive's queries stay lean
                from daemon.logs import quiet_psycopg  # noqa: PLC0415

                quiet_psycopg()
        status: int = _handler(args.handler)(args, config)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except (
        ConfigError,
        AlreadyRunningError,
        ArgumentError,
        Refused,
        DecisionError,
        PushRefusedError,
        AmbiguousTimestampError,
        TimeFormatError,
        DocumentError,
    ) as error:
        print(visible(f"gatewatch: {error}"), file=sys.stderr)
        return EXIT_USAGE
    except (GatingError, DaemonError, OSError) as error:
        if isinstance(error, OSError) and error.errno == errno.EPIPE:
            _quiet_stdout()
            return EXIT_OK
        print(visible(f"gatewatch: {error}"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as stopped:
        if isinstance(stopped, Terminated) and args.command in _SERVICES:
            return EXIT_OK  # stopped while starting, before its own handlers: a stop
        print("gatewatch: interrupted", file=sys.stderr)
        return 143 if isinstance(stopped, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for manager in args.opened:
            manager.close(fold=False)  # index.json is folded by commits and compaction


# The long-running commands: SIGTERM is how systemd stops them, so it is exit 0 (their own
# handlers take over once they run; before, 143 made a failed unit of a stop).
_SERVICES = frozenset({"run", "serve"})


def _terminated(_signum: int, _frame: object) -> None:
    """SIGTERM's handler while a command runs: unwind it (see main)."""
    raise Terminated
