"""What each `gatewatch` command does; daemon.cli parses and maps errors to statuses."""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import documents
from daemon.cli.output import metric, print_json, print_reasons, print_table, progress, visible
from daemon.config import (
    Config,
)
from daemon.errors import ConfigError, Failed, Refused
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
    "cmd_archive",
    "cmd_assess",
    "cmd_run",
    "cmd_serve",
    "cmd_status",
]

if TYPE_CHECKING:
    from daemon.intake import Outcome

WRITE_COMMANDS = frozenset({"archive", "reindex", "compact", "decide"})

OwnerCheck = Callable[[Path, str], "str | None"]


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
        f"cannot change: run sudo -u {name} {_this_program()} {command} ..."
    )


def _this_program() -> str:
    """This command as sudo finds it: by its full path when it was started by one (sudo's
    PATH does not hold /opt/gatewatch/bin: `sudo -u gatewatch gatewatch` was not found)."""
    called = sys.argv[0]
    return (
        called if os.path.isabs(called) and os.path.basename(called) == "gatewatch" else "gatewatch"
    )


def _metrics(assessment: Any) -> list[str]:
    """The four metrics of an assessment, as the report shows them."""
    return [metric(name, assessment.metric(name)) for name in METRICS]


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
    problem = (args.owner_check or archive_owner_problem)(config.archive.dir, args.command)
    if problem:
        raise Refused(problem)
    return _manager(args, config)


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    import signal  # noqa: PLC0415 - only the service takes signals of its own

    from daemon.config_paths import archive_dir_problem  # noqa: PLC0415
    from daemon.logs import configure_logging  # noqa: PLC0415 - only the service logs
    from daemon.service import Service  # noqa: PLC0415 - only the service needs its imports
    from daemon.signals import SignalEvents  # noqa: PLC0415

    unset = config.notify.unset_secrets(os.environ)
    if unset:  # its webhooks would be retried unsigned forever: say so before starting
        raise ConfigError(unset[0])
    if (problem := archive_dir_problem(config)) is not None:  # as `config check` says it
        raise ConfigError(f"{config.source}: {problem}" if config.source else problem)
    configure_logging("json" if args.json else config.logging.format, config.logging.level)
    # A SIGHUP while the archive opens ended the service: it is a reload asked for, done
    # before the first file is gated.
    signals = SignalEvents()
    signals.install(signal.SIGHUP)
    service = Service(
        config, args.config, disk=args.disk, watcher_sink=args.watcher_sink, signals=signals,
        retry_seconds=args.retry_seconds,
    )  # fmt: skip
    return service.run()


def _outcome_line(outcome: Outcome) -> str:
    run = outcome.run
    if run is None:
        return f"{outcome.kind}: {outcome.source} -> {outcome.timestamp}"
    counts = f"{run.approved_count} APPROVED, {run.review_count} REVIEW, {run.dropped_count} DROP"
    return f"{outcome.kind}: {outcome.source} -> {run.timestamp} ({counts})"


def _archive_inputs(names: Sequence[str], config: Config) -> list[Path]:
    """The files named, and the summaries in each folder named (recursively, the globs)."""
    from daemon.scan import FileFilter, scan  # noqa: PLC0415 - archive only

    watch = config.watch
    file_filter = FileFilter(watch.include, watch.exclude, (config.archive.dir,))
    paths: list[Path] = []

    def unreadable(folder: Path, error: OSError) -> None:
        line = f"gatewatch: {folder}: cannot be listed ({error.strerror}): its files are not read"
        print(visible(line), file=sys.stderr)

    for name in names:
        path = Path(name)
        if path.is_dir() and not path.is_symlink():
            found = scan([path], file_filter, watch.recursive, unreadable=unreadable)
            paths += sorted(file for file, _ in found)
        else:
            paths.append(path)
    return paths


def cmd_archive(args: argparse.Namespace, config: Config) -> int:
    from daemon.intake import KeptRejections, ingest_many  # noqa: PLC0415 - only archive reads

    manager = _writer(args, config)
    paths = _archive_inputs(args.files, config)
    # A folder's files are those matching [watch] include: say so, as others are passed over.
    matching = f" matching {' or '.join(config.watch.include)}"
    if not paths:
        raise Failed(f"no files{matching} in {', '.join(args.files)}")
    if not any(Path(name).is_dir() and not Path(name).is_symlink() for name in args.files):
        matching = ""  # named files only: each is taken, whatever its name
    verbose = args.verbose or (len(args.files) == 1 and len(paths) == 1)
    totals: dict[str, int] = {}
    results = []
    bar = progress(len(paths), "archiving") if len(paths) > 1 else None
    kept = KeptRejections(manager.writer.rejected_keys)  # told again, not kept again
    for outcome in ingest_many(manager, paths, kept=kept):
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
        print(f"{len(paths)} files{matching}: {parts}")
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
    from daemon.reading import read_regular_file, read_until_end  # noqa: PLC0415 - assess only

    if name == "-":  # in steps: one read of max_file_bytes would ask for a buffer that size
        data = read_until_end(sys.stdin.buffer.read, limit=limit + 1, hint=1 << 20)
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


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from daemon import status  # noqa: PLC0415 - only this command needs it

    services, unlisted = None, None
    if config.archive.url:  # shared mode: every service heartbeating into the database
        from daemon.archives import services_or_why  # noqa: PLC0415

        # Unlisted, this host's status still says what it knows.
        services, unlisted = services_or_why(lambda: _manager(args, config))
    document, health = status.health_now(config.archive.dir, services, unlisted)
    if args.json:
        found = status.status_json(document, health)
        if config.archive.url:
            found = {**found, "services": services, "services_error": unlisted}
        print_json(found)
    else:
        sys.stdout.write(status.render_status(document, health))
        if services is not None:
            sys.stdout.write(status.render_services(services))
    if unlisted is not None:
        print(f"gatewatch: {visible(unlisted)}", file=sys.stderr)
    return health.exit_code


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from daemon.web.server import serve  # noqa: PLC0415 - only the dashboard needs the web stack

    return serve(config, host=args.host, port=args.port, config_arg=args.config)
