"""Shared mode's commands: `db upgrade`, `db import DIR`, `export DIR` (SPEC 13)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from daemon.cli.output import progress, visible
from daemon.config import Config
from daemon.errors import Refused
from daemon.exits import EXIT_FAILED, EXIT_OK

__all__ = ["cmd_db_import", "cmd_db_upgrade", "cmd_export"]


def _url(config: Config, command: str) -> str:
    if not config.archive.url:
        raise Refused(f"{command}: [archive] url is not set (a shared archive's database)")
    return config.archive.url


def _print(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document) if args.json else text)


def cmd_db_upgrade(args: argparse.Namespace, config: Config) -> int:
    from gating.shared.archive import upgrade  # noqa: PLC0415 - psycopg, shared mode only

    before, after = upgrade(_url(config, "db upgrade"))
    if before == after:
        text = f"schema version {after}: up to date"
    else:
        text = f"schema version {after} (was {'none' if before is None else before})"
    _print(args, {"before": before, "after": after}, text)
    return EXIT_OK


def cmd_db_import(args: argparse.Namespace, config: Config) -> int:
    from daemon.archives import open_archive  # noqa: PLC0415 - see the imports
    from gating.shared.archive import SharedArchive  # noqa: PLC0415
    from gating.shared.transfer import import_folder  # noqa: PLC0415

    _url(config, "db import")
    if not args.folder.strip():  # Path("") is the current folder
        raise Refused("db import: name the folder archive to import")
    archive = open_archive(config)
    assert isinstance(archive, SharedArchive)
    args.opened.append(archive)
    bar = None

    def advance(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or progress(total, "importing")
        bar.update(done - bar.n)

    done = import_folder(archive.database, Path(args.folder), advance)
    if bar is not None:
        bar.close()
    document = {"runs": done.runs, "decisions": done.decisions,
                "runs_passed_over": list(done.runs_passed_over),
                "decisions_passed_over": list(done.passed_over)}  # fmt: skip
    runs = f"{done.runs} run{'' if done.runs == 1 else 's'}"
    decisions = f"{done.decisions} decision{'' if done.decisions == 1 else 's'}"
    text = f"imported {runs} and {decisions} from {args.folder}"
    _print(args, document, text)
    if not (done.runs_passed_over or done.passed_over):
        return EXIT_OK
    if not args.json:
        for line in [*(f"run {why}" for why in done.runs_passed_over), *done.passed_over]:
            print(visible(f"gatewatch: {line}, not imported"), file=sys.stderr)
    return EXIT_FAILED


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    from daemon.archives import open_archive  # noqa: PLC0415 - see the imports
    from gating.shared.archive import SharedArchive  # noqa: PLC0415
    from gating.shared.transfer import export_folder  # noqa: PLC0415

    _url(config, "export")
    if not args.folder.strip():  # Path("") is the current folder
        raise Refused("export: name the folder to write the archive into")
    archive = open_archive(config)
    assert isinstance(archive, SharedArchive)
    args.opened.append(archive)
    runs = export_folder(archive.store, Path(args.folder))
    _print(args, {"runs": runs, "folder": args.folder}, f"exported {runs} runs to {args.folder}")
    return EXIT_OK
