"""`gatewatch rejected`: the files the archive turned away, and why."""

from __future__ import annotations

import argparse
import sys

from daemon import documents
from daemon.cli.commands import EXIT_OK
from daemon.cli.output import print_json, print_table
from daemon.cli.queries import archive_named
from daemon.config import Config
from gating.archive.layout import Layout
from gating.archive.rejections import list_rejected
from gating.errors import ArchiveError

__all__ = ["cmd_rejected"]


def cmd_rejected(args: argparse.Namespace, config: Config) -> int:
    """The rejected files, oldest first (the newest ``--last N``), with each reason."""
    last = documents.parse_last(args.last)
    if config.archive.url:  # shared mode: the database's rejections, from every host
        from daemon.cli.commands import _manager  # noqa: PLC0415

        found = _manager(args, config).writer.rejected(last)
    else:  # the folder alone: no catalog is opened
        folder = Layout(config.archive.dir).rejected
        if folder.exists() and not folder.is_dir():  # the service fails each rejection so
            raise ArchiveError(f"{folder}: not a folder: no rejected file can be kept there")
        found = list_rejected(folder, last)
    if args.json:
        print_json([entry.as_document() for entry in found])
    elif not found:
        print(f"no rejected files in {archive_named(config)}", file=sys.stderr)
    else:
        rows = [[entry.rejected_at, entry.source, entry.reason] for entry in found]
        headers = ["REJECTED_AT", "SOURCE", "REASON"]
        print_table(headers, rows, elastic=("SOURCE", "REASON"), cut_at_end=("REASON",))
    return EXIT_OK
