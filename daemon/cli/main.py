"""The `gatewatch` command line: arguments, then one command, its errors as exit statuses."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from daemon.cli.admin import (
    cmd_compact,
    cmd_config_check,
    cmd_config_init,
    cmd_config_show,
    cmd_reindex,
)
from daemon.cli.commands import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Failed,
    OwnerCheck,
    Refused,
    archive_owner_problem,
    cmd_approved,
    cmd_archive,
    cmd_assess,
    cmd_history,
    cmd_run,
    cmd_runs,
    cmd_serve,
    cmd_status,
)
from daemon.cli.notify import cmd_notify_status, cmd_notify_test
from daemon.cli.output import visible
from daemon.cli.policy import add_commands as add_policy
from daemon.cli.push import add_commands as add_push
from daemon.cli.rejected import cmd_rejected
from daemon.cli.review import add_commands
from daemon.cli.shared import add_commands as add_shared
from daemon.config import load_config
from daemon.documents import DocumentError
from daemon.errors import AlreadyRunningError, ConfigError, DaemonError
from gating import (
    DISK,
    AmbiguousTimestampError,
    DecisionError,
    Disk,
    GatingError,
    PushRefusedError,
    TimeFormatError,
)
from gating.events import EVENT_TYPES

if TYPE_CHECKING:
    from daemon.watcher import WatchEvent

__all__ = ["build_parser", "main"]


# --- parser -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error in one line (SPEC: errors are one line on stderr)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """--version, the installed distribution's version looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            found = version("gatewatch")
        except PackageNotFoundError:
            found = "unknown"
        print(f"gatewatch {found}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    # --config and --json are accepted before or after the subcommand: the subcommand
    # copies only set them when given (SUPPRESS), so they never undo the top-level ones.
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $GATEWATCH_CONFIG, else ./config.toml)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    parser = _Parser(
        prog="gatewatch",
        description="Gate trained models in run summaries and archive every run.",
        parents=[common],
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    add(
        "run",
        cmd_run,
        "watch the folders and archive every summary (the service; --json: JSON logs)",
    )
    archive = add("archive", cmd_archive, "archive summary files, or the summaries in folders")
    archive.add_argument("files", nargs="+", metavar="FILE|FOLDER")
    archive.add_argument(
        "-v", "--verbose", action="store_true", help="a line for every file, archived ones too"
    )
    add("assess", cmd_assess, "gate a summary without archiving it (- reads stdin)").add_argument(
        "file", metavar="FILE"
    )
    add("runs", cmd_runs, "list archived runs").add_argument(
        "--last", metavar="N", help="only the newest N runs (still oldest first)"
    )
    add("approved", cmd_approved, "models approved in a run (the latest by default)").add_argument(
        "timestamp", nargs="?", metavar="TIMESTAMP")  # fmt: skip
    history = add("history", cmd_history, "one symbol's results across runs")
    history.add_argument("symbol", metavar="SYMBOL")
    history.add_argument("--last", metavar="N", help="only the newest N runs (still oldest first)")
    add("rejected", cmd_rejected, "files the archive rejected, and why").add_argument(
        "--last", metavar="N", help="only the newest N (still oldest first)"
    )
    add("status", cmd_status, "the running service's status (exit 0 healthy, 1 not, 3 stopped)")
    serve = add("serve", cmd_serve, "the web dashboard over the archive")
    serve.add_argument("--host", help="address to listen on (default: [serve] host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [serve] port)")
    add_commands(add)  # review, decide, deployable, audit (issue 12)
    add_policy(add)  # regate (issue 13)
    add_push(add)  # push (runs from anywhere)
    add("reindex", cmd_reindex, "rebuild the catalog and index.json from the run folders")
    add("compact", cmd_compact, "write index.json from the catalog")

    config = sub.add_parser("config", parents=[common], help="write, show or check the config")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    init_text = "write the default config"
    init = config_sub.add_parser("init", parents=[common], help=init_text, description=init_text)
    init.add_argument("path", nargs="?", metavar="PATH")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_config_init, needs_config=False)
    for name, handler, text in (
        ("show", cmd_config_show, "print the effective config as TOML"),
        ("check", cmd_config_check, "validate the config and name missing watched folders"),
    ):
        config_sub.add_parser(name, parents=[common], help=text, description=text).set_defaults(
            handler=handler
        )

    add_shared(sub, common)  # db upgrade, db import, export (shared mode)

    notify = sub.add_parser("notify", parents=[common], help="test and inspect notifications")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    test_text = "send a sample to every target"
    test = notify_sub.add_parser("test", parents=[common], help=test_text, description=test_text)
    test.add_argument("--event", choices=EVENT_TYPES, default="run_archived", metavar="TYPE")
    test.set_defaults(handler=cmd_notify_test)
    status_text = "pending, failed and delivered counts per target"
    notify_sub.add_parser(
        "status", parents=[common], help=status_text, description=status_text
    ).set_defaults(handler=cmd_notify_status)
    return parser


def _quiet_stdout() -> None:
    """After a reader closed the pipe (`gatewatch runs | head -1`): drop what is left."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(
    argv: Sequence[str] | None = None,
    *,
    owner_check: OwnerCheck = archive_owner_problem,
    disk: Disk = DISK,
    watcher_sink: Callable[[WatchEvent], None] | None = None,
) -> int:
    """Run one command; return its exit status (0 ok, 1 failed, 2 usage or config).

    ``owner_check`` says why a write command must not touch an archive; ``disk`` writes
    the archive's files and ``watcher_sink`` takes the service's watcher events (tests
    replace them: a disk that crashes or fails, a sink that loses events).
    """
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    args.owner_check = owner_check
    args.disk = disk
    args.watcher_sink = watcher_sink
    args.opened = []  # the archive managers a command opened, closed at the end
    try:
        config = None if getattr(args, "needs_config", True) is False else load_config(args.config)
        status: int = args.handler(args, config)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except (
        ConfigError,
        AlreadyRunningError,
        Refused,
        DecisionError,
        PushRefusedError,
        AmbiguousTimestampError,
        TimeFormatError,
        DocumentError,
    ) as error:
        print(visible(f"gatewatch: {error}"), file=sys.stderr)
        return EXIT_USAGE
    except (Failed, GatingError, DaemonError, OSError) as error:
        if isinstance(error, OSError) and error.errno == errno.EPIPE:
            _quiet_stdout()
            return EXIT_OK
        print(visible(f"gatewatch: {error}"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gatewatch: interrupted", file=sys.stderr)
        return 130
    finally:
        for manager in args.opened:
            manager.close(fold=False)  # index.json is folded by commits and compaction
