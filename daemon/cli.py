"""The `gatewatch` command line: the service, archiving by hand, queries and config."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import documents
from daemon.config import Config, config_path, config_to_toml, default_config_text, load_config
from daemon.errors import AlreadyRunningError, ConfigError, DaemonError
from daemon.intake import Outcome, ingest_many, read_regular_file
from daemon.notify.cli import attach_outbox, cmd_notify_status, cmd_notify_test
from gating import (
    NO_FAULTS,
    AmbiguousTimestampError,
    DecisionError,
    Faults,
    GatingError,
    TimeFormatError,
    TrainingArchiveManager,
)
from gating.events import EVENT_TYPES
from gating.explain import reasons
from gating.run import ArchivedRun

__all__ = ["main"]

if TYPE_CHECKING:
    from tqdm import tqdm

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Failed(Exception):
    """A command finished but something it handled failed (exit status 1)."""


# --- output helpers ---------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [list(headers), *cells]:
        print(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def _print_json(document: Any) -> None:
    """One JSON document; a list is printed one item per line (fast for long lists)."""
    print(documents.dumps(document))


def _progress(total: int, label: str) -> tqdm[Any]:
    """A progress bar on stderr when it is a terminal, silent when piped."""
    from tqdm import tqdm  # noqa: PLC0415 - only long commands pay for the import

    return tqdm(total=total, desc=label, unit="run", disable=None, file=sys.stderr, leave=False)


# --- commands ---------------------------------------------------------------------------


def _manager(config: Config, faults: Faults) -> TrainingArchiveManager:
    manager = TrainingArchiveManager(
        config.archive.dir,
        config.gating,
        max_file_bytes=config.watch.max_file_bytes,
        faults=faults,
    )
    attach_outbox(manager, config.notify)  # notify (issue 14): writes emit events
    return manager


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from daemon.logs import configure_logging  # noqa: PLC0415 - only the service logs
    from daemon.service import Service  # noqa: PLC0415 - only the service needs its imports

    configure_logging(config.logging.format, config.logging.level)
    return Service(config, args.config, faults=args.faults).run()


def _outcome_line(outcome: Outcome) -> str:
    run = outcome.run
    if run is None:
        return f"{outcome.kind}: {outcome.source} -> {outcome.timestamp}"
    counts = f"{run.approved_count} APPROVED, {run.review_count} REVIEW, {run.dropped_count} DROP"
    return f"{outcome.kind}: {outcome.source} -> {run.timestamp} ({counts})"


def cmd_archive(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(config, args.faults)
    failures = 0
    results = []
    bar = _progress(len(args.files), "archiving") if len(args.files) > 1 else None
    for outcome in ingest_many(manager, [Path(name) for name in args.files]):
        name = str(outcome.source)
        if outcome.kind in ("archived", "duplicate"):
            line = _outcome_line(outcome)
            if not args.json:
                (bar.write if bar else print)(line)
        else:
            failures += 1
            print(f"gatewatch: {name}: {outcome.kind}: {outcome.reason}", file=sys.stderr)
        results.append(
            {
                "source": name,
                "outcome": outcome.kind,
                "timestamp": outcome.timestamp,
                "reason": outcome.reason,
            }
        )
        if bar:
            bar.update()
    if bar:
        bar.close()
    if args.json:
        _print_json(results)
    return EXIT_FAILED if failures else EXIT_OK


def _assessment_rows(run: ArchivedRun) -> list[list[Any]]:
    return [
        [
            a.symbol,
            str(a.classification),
            a.metric("fitness"),
            a.metric("profit_factor"),
            a.metric("consistency"),
            a.metric("max_drawdown"),
            [str(f) for f in a.flags],
            a.checkpoint_step if a.use_checkpoint else None,
            "; ".join(reasons(a)),
        ]
        for a in run.assessments
    ]


def cmd_assess(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(config, args.faults)
    try:
        raw = read_regular_file(Path(args.file), manager.max_file_bytes)
    except OSError as error:
        raise _Failed(f"{args.file}: {error.strerror or error}") from None
    try:
        run = manager.assess(raw)
    except GatingError as error:
        raise _Failed(f"{args.file}: {error}") from None
    if args.json:
        _print_json(documents.assess_document(run))
        return EXIT_OK
    headers = ["SYMBOL", "CLASS", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "FLAGS", "CHECKPOINT"]
    headers.append("REASONS")
    _print_table(headers, _assessment_rows(run))
    print(f"\n{run.approved_count} APPROVED, {run.review_count} REVIEW, {run.dropped_count} DROP")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, config: Config) -> int:
    runs = documents.runs_document(_manager(config, args.faults), documents.parse_last(args.last))
    if args.json:
        _print_json(runs)
    elif not runs:
        print("no runs archived yet", file=sys.stderr)
    else:
        keys = ["timestamp", "run_id", "approved", "review", "dropped", "source"]
        _print_table([k.upper() for k in keys], [[r[k] for k in keys] for r in runs])
    return EXIT_OK


def cmd_approved(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(config, args.faults)
    if args.timestamp is not None:
        args.timestamp = manager.resolve_timestamp(args.timestamp)  # a prefix, or latest
    entry = manager.run_entry(args.timestamp)
    approved = documents.approved_document(manager, args.timestamp)
    if args.json:
        _print_json(approved)
        return EXIT_OK
    if entry is None:
        print("no runs archived yet", file=sys.stderr)
        return EXIT_OK
    models = entry["models"]
    rows = []
    for symbol in approved:
        model = models[symbol]
        step = model["checkpoint_step"] if model["use_checkpoint"] else None
        metrics = [model[k] for k in ("fitness", "profit_factor", "consistency", "max_drawdown")]
        rows.append([symbol, *metrics, step])
    print(f"run {entry['timestamp']}: {len(approved)} of {len(models)} models approved")
    if rows:
        _print_table(["SYMBOL", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "CHECKPOINT"], rows)
    return EXIT_OK


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(config, args.faults)
    if args.json:
        # Straight from the index to stdout: the records are already JSON.
        out = sys.stdout.buffer
        records = documents.history_records(manager, args.symbol, documents.parse_last(args.last))
        first = True
        while chunk := list(itertools.islice(records, 1000)):
            out.write((b"[\n" if first else b",\n") + b",\n".join(chunk))
            first = False
        out.write(b"[]\n" if first else b"\n]\n")
        out.flush()
        return EXIT_OK
    history = documents.history_document(manager, args.symbol, documents.parse_last(args.last))
    if not history:
        print(f"no archived run gated {args.symbol}", file=sys.stderr)
        return EXIT_OK
    columns = {
        "TIMESTAMP": "timestamp",
        "RUN_ID": "run_id",
        "CLASS": "classification",
        "FITNESS": "fitness",
        "PF": "profit_factor",
        "CONSISTENCY": "consistency",
        "MAXDD": "max_drawdown",
        "FLAGS": "flags",
        "CHECKPOINT": "checkpoint_step",
        "VERDICT": "verdict",
    }
    from daemon.review_commands import history_reasons  # noqa: PLC0415 - it imports this module

    why = history_reasons(manager, args.symbol, history)
    for h in history:  # the checkpoint step is shown only where a restore is advised
        h["checkpoint_step"] = h["checkpoint_step"] if h["use_checkpoint"] else None
    rows = [[*(h[k] for k in columns.values()), w] for h, w in zip(history, why, strict=True)]
    _print_table([*columns, "REASONS"], rows)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from daemon import status  # noqa: PLC0415 - only this command needs it

    document = status.read_status(config.archive.dir)
    health = status.assess_status(document, time.time(), status.pid_alive, socket.gethostname())
    if args.json:
        _print_json(status.status_json(document, health))
    else:
        sys.stdout.write(status.render_status(document, health))
    return health.exit_code


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from daemon.web.server import serve  # noqa: PLC0415 - only the dashboard needs the web stack

    return serve(config, host=args.host, port=args.port)


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(config, args.faults)
    bar: tqdm[Any] | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress(total, "reindexing")
        bar.update(done - bar.n)

    runs = manager.reindex(progress=progress)
    if bar is not None:
        bar.close()
    print(_dump_count(args, "reindexed", runs))
    return EXIT_OK


def cmd_compact(args: argparse.Namespace, config: Config) -> int:
    print(_dump_count(args, "compacted", _manager(config, args.faults).compact()))
    return EXIT_OK


def _dump_count(args: argparse.Namespace, verb: str, runs: int) -> str:
    return json.dumps({verb: True, "runs": runs}) if args.json else f"{verb}: {runs} runs"


def cmd_config_init(args: argparse.Namespace, _config: Config | None) -> int:
    target = Path(args.path) if args.path else config_path(args.config)[0]
    if target.exists() and not args.force:
        raise _Failed(f"{target}: already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(default_config_text(), encoding="utf-8")
    print(f"wrote {target}")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace, config: Config) -> int:
    sys.stdout.write(config_to_toml(config))
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace, config: Config) -> int:
    where = config.source or "defaults (no config file)"
    print(f"config OK: {where}")
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    # --config and --json are accepted before or after the subcommand: the subcommand
    # copies only set them when given (SUPPRESS), so they never undo the top-level ones.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $GATEWATCH_CONFIG, else ./config.toml)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    parser = argparse.ArgumentParser(
        prog="gatewatch",
        description="Gate trained models in run summaries and archive every run.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    add("run", cmd_run, "watch the folders and archive every summary (the service)")
    add("archive", cmd_archive, "archive summary files now").add_argument(
        "files", nargs="+", metavar="FILE"
    )
    add("assess", cmd_assess, "gate a summary without archiving it").add_argument(
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
    add("status", cmd_status, "the running service's status (exit 0 healthy, 1 not, 3 stopped)")
    serve = add("serve", cmd_serve, "the web dashboard over the archive")
    serve.add_argument("--host", help="address to listen on (default: [serve] host)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [serve] port)")
    from daemon.review_commands import add_commands  # noqa: PLC0415 - it imports this module

    add_commands(add)
    from daemon.policy_commands import add_commands as add_policy  # noqa: PLC0415 - as above

    add_policy(add)  # regate (issue 13)
    add("reindex", cmd_reindex, "rebuild the catalog and index.json from the run folders")
    add("compact", cmd_compact, "write index.json from the catalog")

    config = sub.add_parser("config", parents=[common], help="write, show or check the config")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    init = config_sub.add_parser("init", parents=[common], help="write the default config")
    init.add_argument("path", nargs="?", metavar="PATH")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_config_init, needs_config=False)
    for name, handler, text in (
        ("show", cmd_config_show, "print the effective config as TOML"),
        ("check", cmd_config_check, "validate the config and exit"),
    ):
        config_sub.add_parser(name, parents=[common], help=text).set_defaults(handler=handler)

    # notify (issue 14)
    notify = sub.add_parser("notify", parents=[common], help="test and inspect notifications")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    test = notify_sub.add_parser("test", parents=[common], help="send a sample to every target")
    test.add_argument("--event", choices=EVENT_TYPES, default="run_archived", metavar="TYPE")
    test.set_defaults(handler=cmd_notify_test)
    notify_sub.add_parser(
        "status", parents=[common], help="pending, failed and delivered counts per target"
    ).set_defaults(handler=cmd_notify_status)
    return parser


def main(argv: Sequence[str] | None = None, *, faults: Faults = NO_FAULTS) -> int:
    """Run one command; return its exit status (0 ok, 1 failed, 2 usage or config).

    ``faults`` arms the archive's crash and failure points (the tests' launcher only).
    """
    args = _parser().parse_args(argv)
    args.faults = faults
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    try:
        config = None if getattr(args, "needs_config", True) is False else load_config(args.config)
        status: int = args.handler(args, config)
        return status
    except (
        ConfigError,
        AlreadyRunningError,
        DecisionError,
        AmbiguousTimestampError,
        TimeFormatError,
    ) as error:
        print(f"gatewatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    except documents.DocumentError as error:
        print(f"gatewatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (_Failed, GatingError, DaemonError, OSError) as error:
        print(f"gatewatch: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gatewatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
