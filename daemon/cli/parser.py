"""The `gatewatch` argument parser: every command and option, each command's handler named
as ``"module:function"`` and imported only when that command runs (a cold query imports
nothing of the write path)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from daemon.exits import EXIT_USAGE
from gating.errors import shown
from gating.event_types import EVENT_TYPES

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error in one line (SPEC: errors are one line on stderr)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _text(value: str) -> str:
    """An argument that is text (a symbol, a reason, a time), never a file's name: its
    bytes must be UTF-8 (others come as lone surrogates, which no query can take)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{shown(value)} is not UTF-8 text") from None
    return value


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
    """The parser; a parsed command carries ``handler`` ("module:function") and, for the
    commands that read no config file, ``needs_config=False``."""
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
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document (run: the log as JSON lines)",
    )
    parser = _Parser(
        prog="gatewatch",
        description="Gate trained models in run summaries and archive every run.",
        parents=[common],
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group: Any, name: str, handler: str, text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = group.add_parser(
            name, parents=[common], help=text, description=text
        )
        made.set_defaults(handler=f"daemon.cli.{handler}")
        return made

    def add(name: str, handler: str, text: str) -> argparse.ArgumentParser:
        return command(sub, name, handler, text)

    add(
        "run",
        "commands:cmd_run",
        "watch the folders and archive every summary (the service; --json: JSON logs)",
    )
    archive = add(
        "archive", "commands:cmd_archive", "archive summary files, or the summaries in folders"
    )
    archive.add_argument("files", nargs="+", metavar="FILE|FOLDER")
    archive.add_argument(
        "-v", "--verbose", action="store_true", help="a line for every file, archived ones too"
    )
    add(
        "assess", "commands:cmd_assess", "gate a summary without archiving it (- reads stdin)"
    ).add_argument("file", metavar="FILE")
    add("runs", "queries:cmd_runs", "list archived runs").add_argument(
        "--last", type=_text, metavar="N", help="only the newest N runs (still oldest first)"
    )
    add(
        "approved", "queries:cmd_approved", "models approved in a run (the latest by default)"
    ).add_argument("timestamp", type=_text, nargs="?", metavar="TIMESTAMP")
    history = add("history", "queries:cmd_history", "one symbol's results across runs")
    history.add_argument("symbol", type=_text, metavar="SYMBOL")
    history.add_argument(
        "--last", type=_text, metavar="N", help="only the newest N runs (still oldest first)"
    )
    add("rejected", "rejected:cmd_rejected", "files the archive rejected, and why").add_argument(
        "--last", type=_text, metavar="N", help="only the newest N (still oldest first)"
    )
    add(
        "status",
        "commands:cmd_status",
        "the running service's status (exit 0 healthy, 1 not, 3 stopped)",
    )
    serve = add("serve", "commands:cmd_serve", "the web dashboard over the archive")
    serve.add_argument("--host", type=_text, help="address to listen on (default: [serve] host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [serve] port)")
    _review_commands(add)
    _push_command(add)
    add(
        "reindex",
        "admin:cmd_reindex",
        "rebuild the catalog from the run folders (index.json too, up to 100,000 runs)",
    )
    add("compact", "admin:cmd_compact", "write index.json from the catalog")

    config = sub.add_parser("config", parents=[common], help="write, show or check the config")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    init = command(config_sub, "init", "admin:cmd_config_init", "write the default config")
    init.add_argument("path", nargs="?", metavar="PATH")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(needs_config=False)
    command(config_sub, "show", "admin:cmd_config_show", "print the effective config as TOML")
    command(
        config_sub,
        "check",
        "admin:cmd_config_check",
        "validate the config and name missing watched folders",
    )

    db = sub.add_parser("db", parents=[common], help="the shared archive's database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    command(
        db_sub,
        "upgrade",
        "shared:cmd_db_upgrade",
        "create or upgrade the database's tables (one transaction, under a lock)",
    )
    command(
        db_sub,
        "import",
        "shared:cmd_db_import",
        "copy a folder archive's runs and decisions in (again: nothing doubles)",
    ).add_argument("folder", metavar="DIR")
    add(
        "export",
        "shared:cmd_export",
        "write the shared archive out as a folder archive (runs, decisions, index.json)",
    ).add_argument("folder", metavar="DIR")

    notify = sub.add_parser("notify", parents=[common], help="test and inspect notifications")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    test = command(notify_sub, "test", "notify:cmd_notify_test", "send a sample to every target")
    test.add_argument("--event", choices=EVENT_TYPES, default="run_archived", metavar="TYPE")
    command(
        notify_sub,
        "status",
        "notify:cmd_notify_status",
        "pending, failed and delivered counts per target",
    )
    return parser


def _review_commands(add: Any) -> None:
    """review, decide, deployable, audit (the review desk) and regate (policies)."""
    add(
        "review", "review:cmd_review", "models awaiting review, newest first, and why"
    ).add_argument("--last", type=_text, metavar="N", help="only the newest N models")
    decide = add("decide", "review:cmd_decide", "approve or drop one model of one run")
    decide.add_argument(
        "timestamp", type=_text, metavar="TIMESTAMP", help="a run: timestamp, prefix, latest"
    )
    decide.add_argument("symbol", type=_text, metavar="SYMBOL")
    decide.add_argument("verdict", type=_text, metavar="approve|drop")
    decide.add_argument("--reason", type=_text, metavar="TEXT", required=True, help="why")
    decide.add_argument(
        "--by", type=_text, metavar="NAME", help="who (default: $SUDO_USER, else login name)"
    )
    decide.add_argument("--force", action="store_true", help="override the gate's APPROVED/DROP")
    deployable = add("deployable", "queries:cmd_deployable", "every symbol's champion")
    deployable.add_argument(
        "--at",
        type=_text,
        metavar="TIME",
        help="as it stood then (a TIMESTAMP or an ISO 8601 time)",
    )
    add("audit", "review:cmd_audit", "every decision, oldest first").add_argument(
        "symbol", type=_text, nargs="?", metavar="SYMBOL"
    )
    regate = add(
        "regate", "policy:cmd_regate", "what if the thresholds were OTHER's? (writes nothing)"
    )
    regate.add_argument("other", metavar="OTHER.toml", help="a config whose [gating] to apply")
    regate.add_argument(
        "--since",
        type=_text,
        metavar="TIME",
        help="only runs since then (a TIMESTAMP, prefix or ISO time)",
    )


def _push_command(add: Any) -> None:
    """push (runs from anywhere; it needs no config file)."""
    push = add(
        "push", "push:cmd_push", "send summaries to a gatewatch server (kept in a spool if down)"
    )
    push.add_argument("files", nargs="*", metavar="FILE")
    push.add_argument("--to", type=_text, metavar="URL", help="the server (http://host:8470)")
    push.add_argument(
        "--spool", action="store_true", help="send the summaries kept while servers were down"
    )
    push.add_argument(
        "--spool-dir", metavar="DIR", help="the spool folder (default: ~/.cache/gatewatch/spool)"
    )
    push.add_argument(
        "--token-env",
        type=_text,
        metavar="NAME",
        default="GATEWATCH_SUBMIT_TOKEN",
        help="the variable holding the submit token (default: GATEWATCH_SUBMIT_TOKEN)",
    )
    push.set_defaults(needs_config=False)
