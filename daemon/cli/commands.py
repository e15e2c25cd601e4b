"""What each `gatewatch` command does; daemon.cli parses and maps errors to statuses."""

from __future__ import annotations

import argparse
import os
import pwd
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import documents
from daemon.cli.output import metric, print_json, print_reasons, print_table, progress, visible
from daemon.config import (
    Config,
)
from daemon.errors import ConfigError
from daemon.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from gating import GatingError, SummaryError, TrainingArchiveManager
from gating.explain import reasons
from gating.rules import METRICS
from gating.run import ArchivedRun

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Failed",
    "OwnerCheck",
    "Refused",
    "archive_owner_problem",
    "cmd_approved",
    "cmd_archive",
    "cmd_assess",
    "cmd_history",
    "cmd_run",
    "cmd_runs",
    "cmd_serve",
    "cmd_status",
]

if TYPE_CHECKING:
    from daemon.intake import Outcome

WRITE_COMMANDS = frozenset({"archive", "reindex", "compact", "decide"})

OwnerCheck = Callable[[Path, str], "str | None"]


class Failed(Exception):
    """A command finished but something it handled failed (exit status 1)."""


class Refused(Exception):
    """A command that must not run as it was asked (exit status 2)."""


def archive_owner_problem(archive: Path, command: str) -> str | None:
    """Why this user must not write to ``archive`` (another user owns it), or None.

    Files a write creates as another user (root, say) would be ones the service cannot
    append to or replace later, so such a write is refused before it starts.
    """
    try:
        owner = archive.stat().st_uid
    except FileNotFoundError:
        return None  # a new archive: it will be ours
    if owner == os.geteuid():
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = f"#{owner}"
    return (
        f"{archive} belongs to {name}; writing as another user would leave files it "
        f"cannot change: run sudo -u {name} gatewatch {command} ..."
    )


def _metrics(model: Any) -> list[str]:
    """The four metrics of an index record or an assessment, as the report shows them."""
    if isinstance(model, dict):
        return [metric(name, model[name]) for name in METRICS]
    return [metric(name, model.metric(name)) for name in METRICS]


# --- commands ---------------------------------------------------------------------------


def _manager(args: argparse.Namespace, config: Config) -> TrainingArchiveManager:
    """The archive's manager, with an outbox when [notify] has targets."""
    from daemon.archives import open_archive  # noqa: PLC0415 - see the imports
    from daemon.notify.settings import outbox_for  # noqa: PLC0415 - only writers emit events

    manager = open_archive(
        config, disk=args.disk, outbox=outbox_for(config.archive.dir, config.notify, args.disk)
    )
    args.opened.append(manager)  # main() closes it: the catalog is let go cleanly
    return manager


def _writer(args: argparse.Namespace, config: Config) -> TrainingArchiveManager:
    """The manager for a write command, once the archive's owner check has passed."""
    problem = args.owner_check(config.archive.dir, args.command)
    if problem:
        raise Refused(problem)
    return _manager(args, config)


def _nothing_yet(config: Config) -> str:
    return f"no runs archived yet in {config.archive.dir}"


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from daemon.logs import configure_logging  # noqa: PLC0415 - only the service logs
    from daemon.service import Service  # noqa: PLC0415 - only the service needs its imports

    unset = config.notify.unset_secrets(os.environ)
    if unset:  # its webhooks would be retried unsigned forever: say so before starting
        raise ConfigError(unset[0])
    configure_logging("json" if args.json else config.logging.format, config.logging.level)
    return Service(config, args.config, disk=args.disk, watcher_sink=args.watcher_sink).run()


def _outcome_line(outcome: Outcome) -> str:
    run = outcome.run
    if run is None:
        return f"{outcome.kind}: {outcome.source} -> {outcome.timestamp}"
    counts = f"{run.approved_count} APPROVED, {run.review_count} REVIEW, {run.dropped_count} DROP"
    return f"{outcome.kind}: {outcome.source} -> {run.timestamp} ({counts})"


def _archive_inputs(names: Sequence[str], config: Config) -> list[Path]:
    """The files named, and the summaries in each folder named (recursively, the globs)."""
    from daemon.watcher import FileFilter, scan  # noqa: PLC0415 - watchdog: archive only

    watch = config.watch
    file_filter = FileFilter(watch.include, watch.exclude, (config.archive.dir,))
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir() and not path.is_symlink():
            paths += sorted(found for found, _ in scan([path], file_filter, watch.recursive))
        else:
            paths.append(path)
    return paths


def cmd_archive(args: argparse.Namespace, config: Config) -> int:
    from daemon.intake import ingest_many  # noqa: PLC0415 - only archive reads summaries

    manager = _writer(args, config)
    paths = _archive_inputs(args.files, config)
    if not paths:
        raise Failed(f"no summary files in {', '.join(args.files)}")
    verbose = args.verbose or (len(args.files) == 1 and len(paths) == 1)
    totals: dict[str, int] = {}
    results = []
    bar = progress(len(paths), "archiving") if len(paths) > 1 else None
    for outcome in ingest_many(manager, paths):
        totals[outcome.kind] = totals.get(outcome.kind, 0) + 1
        if args.json:
            pass
        elif outcome.kind in ("archived", "duplicate"):
            if verbose or outcome.kind == "duplicate":
                (bar.write if bar else print)(visible(_outcome_line(outcome)))
        else:
            line = f"gatewatch: {outcome.source}: {outcome.kind}: {outcome.reason}"
            print(visible(line), file=sys.stderr)
        results.append(
            documents.outcome_document(
                str(outcome.source), outcome.kind, outcome.timestamp, outcome.reason
            )
        )
        if bar:
            bar.update()
    if bar:
        bar.close()
    if args.json:
        print_json(results)
    elif len(paths) > 1:
        parts = ", ".join(f"{count} {kind}" for kind, count in sorted(totals.items()))
        print(f"{len(paths)} files: {parts}")
    failures = sum(totals.get(kind, 0) for kind in ("rejected", "failed", "skipped"))
    return EXIT_FAILED if failures else EXIT_OK


def _assessment_rows(run: ArchivedRun) -> list[list[Any]]:
    return [
        [
            a.symbol,
            str(a.classification),
            *_metrics(a),
            [str(f) for f in a.flags],
            a.checkpoint_step if a.use_checkpoint else None,
        ]
        for a in run.assessments
    ]


def _read_summary(name: str, limit: int) -> bytes:
    """The bytes of a summary file, or of stdin for ``-``."""
    from daemon.intake import read_regular_file  # noqa: PLC0415 - only assess reads one

    if name == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise Failed(f"-: more than max_file_bytes ({limit}) on stdin")
        return data
    try:
        return read_regular_file(Path(name), limit)
    except OSError as error:
        raise Failed(f"{name}: {error.strerror or error}") from None
    except SummaryError as error:
        raise Failed(f"{name}: {error}") from None


def cmd_assess(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(args, config)
    raw = _read_summary(args.file, manager.max_file_bytes)
    try:
        run = manager.assess(raw)
    except GatingError as error:
        raise Failed(f"{args.file}: {error}") from None
    if args.json:
        print_json(documents.assess_document(run))
        return EXIT_OK
    headers = ["SYMBOL", "CLASS", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "FLAGS", "CHECKPOINT"]
    print_table(headers, _assessment_rows(run), elastic=("SYMBOL", "FLAGS"))
    print_reasons([(a.symbol, reasons(a)) for a in run.assessments])
    print(f"\n{run.approved_count} APPROVED, {run.review_count} REVIEW, {run.dropped_count} DROP")
    return EXIT_OK


def _write_chunks(chunks: Iterable[bytes]) -> None:
    """A document streamed to stdout as it is read (see documents.list_chunks)."""
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def cmd_runs(args: argparse.Namespace, config: Config) -> int:
    last = documents.parse_last(args.last)
    if args.json and last is None:  # every run, a page at a time: flat memory at 1,000,000
        _write_chunks(documents.list_chunks(documents.runs_items(_manager(args, config))))
        return EXIT_OK
    runs = documents.runs_document(_manager(args, config), last)
    if args.json:
        print_json(runs)
    elif not runs:
        print(_nothing_yet(config), file=sys.stderr)
    else:
        keys = ["timestamp", "run_id", "approved", "review", "dropped", "source"]
        rows = [[r[k] for k in keys] for r in runs]
        print_table([k.upper() for k in keys], rows, elastic=("RUN_ID", "SOURCE"))
    return EXIT_OK


def cmd_approved(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(args, config)
    if args.timestamp is not None:
        args.timestamp = manager.reader.resolve_timestamp(args.timestamp)  # a prefix, or latest
    entry = manager.reader.run_entry(args.timestamp)
    approved = documents.approved_document(manager, args.timestamp)
    if args.json:
        print_json(approved)
        return EXIT_OK
    if entry is None:
        print(_nothing_yet(config), file=sys.stderr)
        return EXIT_OK
    models = entry["models"]
    rows = []
    for symbol in approved:
        model = models[symbol]
        step = model["checkpoint_step"] if model["use_checkpoint"] else None
        rows.append([symbol, *_metrics(model), step])
    print(f"run {entry['timestamp']}: {len(approved)} of {len(models)} models approved")
    if rows:
        headers = ["SYMBOL", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "CHECKPOINT"]
        print_table(headers, rows, elastic=("SYMBOL",))
    return EXIT_OK


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    manager = _manager(args, config)
    if args.json:
        # Straight from the index to stdout: the records are already JSON.
        records = documents.history_records(manager, args.symbol, documents.parse_last(args.last))
        _write_chunks(documents.list_chunks(records))
        return EXIT_OK
    history = documents.history_document(manager, args.symbol, documents.parse_last(args.last))
    if not history:
        print(
            documents.no_history_message(manager, args.symbol, config.archive.dir),
            file=sys.stderr,
        )
        return EXIT_OK
    headers = ["TIMESTAMP", "RUN_ID", "CLASS", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "FLAGS"]
    reasons_of = history_reasons(manager, args.symbol, history)
    rows = [
        [
            h["timestamp"],
            h["run_id"],
            h["classification"],
            *_metrics(h),
            h["flags"],
            h["checkpoint_step"] if h["use_checkpoint"] else None,
        ]
        for h in history
    ]
    for row, h in zip(rows, history, strict=True):
        if h["decision"] is not None:
            row[2] = f"{h['classification']}*"  # a person decided: see below
    print_table([*headers, "CHECKPOINT"], rows, elastic=("RUN_ID", "FLAGS"))
    print_reasons([(h["timestamp"], why) for h, why in zip(history, reasons_of, strict=True)])
    decided = [h for h in history if h["decision"] is not None]
    if decided:
        print("\n* decided by a person (gatewatch audit for the whole trail):")
        for h in decided:
            d = h["decision"]
            print(visible(f"  {h['timestamp']}: {d['verdict']} by {d['by']}: {d['reason']}"))
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from daemon import status  # noqa: PLC0415 - only this command needs it

    document = status.read_status(config.archive.dir)
    health = status.assess_status(document, time.time(), status.pid_alive, socket.gethostname())
    services = None
    if config.archive.url:  # shared mode: every service heartbeating into the database
        from daemon.archives import services_of  # noqa: PLC0415

        services = services_of(_manager(args, config))
    if args.json:
        found = status.status_json(document, health)
        print_json(found if services is None else {**found, "services": services})
    else:
        sys.stdout.write(status.render_status(document, health))
        if services is not None:
            sys.stdout.write(status.render_services(services))
    return health.exit_code


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from daemon.web.server import serve  # noqa: PLC0415 - only the dashboard needs the web stack

    return serve(config, host=args.host, port=args.port)


def history_reasons(
    manager: TrainingArchiveManager, symbol: str, records: list[dict[str, Any]]
) -> list[list[str]]:
    """Each history record's reasons in words (none where it is APPROVED)."""
    return [
        []
        if record["classification"] == "APPROVED"
        else manager.review.model_reasons(record["timestamp"], symbol, record)
        for record in records
    ]
