"""The read-only commands: runs, approved, history, deployable. They import the catalog's
read path only, so that a cold query starts quickly (see docs/performance.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from daemon import documents
from daemon.cli.output import metric, print_json, print_reasons, print_table, visible
from daemon.exits import EXIT_OK
from gating.rules import METRICS  # loaded by the catalog anyway

if TYPE_CHECKING:
    from daemon.config import Config
    from gating import TrainingArchiveManager

__all__ = ["cmd_approved", "cmd_deployable", "cmd_history", "cmd_runs", "history_reasons"]

METRIC_HEADERS = ["FITNESS", "PF", "CONSISTENCY", "MAXDD"]


def reader_of(args: argparse.Namespace, config: Config) -> TrainingArchiveManager:
    """The archive, opened to read (closed by main)."""
    from daemon.archives import open_archive  # noqa: PLC0415 - after the arguments parsed

    manager = open_archive(config, disk=args.disk)
    args.opened.append(manager)
    return manager


def archive_named(config: Config) -> str:
    """The archive as a line names it: its folder, or in shared mode its database (whose
    URL holds no password; the local folder is not the archive there)."""
    if not config.archive.url:
        return str(config.archive.dir)
    from gating.shared.database import shown_url  # noqa: PLC0415 - shared mode only

    return f"the database {shown_url(config.archive.url)}"


def nothing_yet(config: Config) -> str:
    """What a query says of an empty archive."""
    return f"no runs archived yet in {archive_named(config)}"


def metric_cells(record: dict[str, Any]) -> list[str]:
    """The four metrics of an index record, as the report shows them."""
    return [metric(name, record.get(name)) for name in METRICS]


def _write_chunks(chunks: Iterable[bytes]) -> None:
    """A document streamed to stdout as it is read (see documents.list_chunks)."""
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def cmd_runs(args: argparse.Namespace, config: Config) -> int:
    last = documents.parse_last(args.last)
    if args.json and last is None:  # every run, a page at a time: flat memory at 1,000,000
        _write_chunks(documents.list_chunks(documents.runs_items(reader_of(args, config))))
        return EXIT_OK
    runs = documents.runs_document(reader_of(args, config), last)
    if args.json:
        print_json(runs)
    elif not runs:
        print(nothing_yet(config), file=sys.stderr)
    else:
        keys = ["timestamp", "run_id", "approved", "review", "dropped", "source"]
        rows = [[r[k] for k in keys] for r in runs]
        print_table([k.upper() for k in keys], rows, elastic=("RUN_ID", "SOURCE"))
    return EXIT_OK


def cmd_approved(args: argparse.Namespace, config: Config) -> int:
    manager = reader_of(args, config)
    if args.timestamp is not None:  # a prefix, or latest: one run for the list and the entry
        args.timestamp = manager.reader.resolve_timestamp(args.timestamp)
    approved = manager.get_approved_models(args.timestamp)  # approved_document, resolved
    if args.json:  # the catalog alone: the run folder is read for the table's metrics only
        print_json(approved)
        return EXIT_OK
    entry = manager.reader.run_entry(args.timestamp)
    if entry is None:
        print(nothing_yet(config), file=sys.stderr)
        return EXIT_OK
    models = entry["models"]
    rows = []
    for symbol in approved:
        # The catalog says which; the run's record gives the metrics (a record edited by
        # hand may lack the model: its cells are empty, never a traceback).
        model = models.get(symbol) or {}
        step = model.get("checkpoint_step") if model.get("use_checkpoint") else None
        rows.append([symbol, *metric_cells(model), step])
    print(f"run {entry['timestamp']}: {len(approved)} of {len(models)} models approved")
    if rows:
        headers = ["SYMBOL", "FITNESS", "PF", "CONSISTENCY", "MAXDD", "CHECKPOINT"]
        print_table(headers, rows, elastic=("SYMBOL",))
    return EXIT_OK


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    manager = reader_of(args, config)
    if args.json:
        # Straight from the index to stdout: the records are already JSON.
        records = documents.history_records(manager, args.symbol, documents.parse_last(args.last))
        _write_chunks(documents.list_chunks(records))
        return EXIT_OK
    history = documents.history_document(manager, args.symbol, documents.parse_last(args.last))
    if not history:
        print(
            documents.no_history_message(manager, args.symbol, archive_named(config)),
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
            *metric_cells(h),
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


def cmd_deployable(args: argparse.Namespace, config: Config) -> int:
    """Every symbol's champion (as it stood at --at TIME)."""
    champions = documents.deployable_document(reader_of(args, config), at=args.at)
    if args.json:
        print_json(champions)
    elif not champions:
        when = f" at {args.at}" if args.at else ""
        print(f"nothing is deployable{when} in {archive_named(config)}")
    else:
        rows = [
            [symbol, d["timestamp"], d["run_id"], *metric_cells(d), d["checkpoint_step"],
             d["verdict_by"]]
            for symbol, d in champions.items()
        ]  # fmt: skip
        headers = ["SYMBOL", "TIMESTAMP", "RUN_ID", *METRIC_HEADERS, "CHECKPOINT", "BY"]
        print_table(headers, rows, elastic=("SYMBOL", "RUN_ID", "BY"))
        decided = [(s, d) for s, d in champions.items() if d["verdict_by"] != "gate"]
        if decided:
            print("\napproved by a person:")
            for symbol, d in decided:
                print(visible(f"  {symbol}: {d['verdict_by']}: {d['reason']}"))
    return EXIT_OK
