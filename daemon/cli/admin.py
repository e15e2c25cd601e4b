"""The archive's upkeep and the config file: `reindex`, `compact`, `config init|show|check`."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.cli.commands import EXIT_OK, _writer
from daemon.cli.output import print_json, progress, visible
from daemon.config import Config, config_path, config_to_toml, default_config_text
from daemon.config_paths import (
    archive_dir_problem,
    missing_paths,
    watch_path_problem,
    why_not_watched,
)
from daemon.errors import ConfigError, Failed, Refused

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["cmd_compact", "cmd_config_check", "cmd_config_init", "cmd_config_show", "cmd_reindex"]


def _existing(config: Config, verb: str) -> None:
    """Failed when [archive] dir names no folder: reindex or compact would make an empty
    archive (a mistyped folder or config went unnoticed, "reindexed: 0 runs")."""
    folder = config.archive.dir
    if not config.archive.url and not folder.is_dir():  # gone, a file, a dangling symlink
        raise Failed(f"{folder}: no archive folder there, nothing to {verb} (see [archive] dir)")


def cmd_reindex(args: argparse.Namespace, config: Config) -> int:
    _existing(config, "reindex")
    manager = _writer(args, config)
    bar: tqdm[Any] | None = None

    def advance(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total, "reindexing")
        bar.update(done - bar.n)

    runs = manager.reindex(progress=advance)
    if bar is not None:
        bar.close()
    print(_dump_count(args, "reindexed", runs))
    for timestamp, reason in manager.reader.damaged_runs():
        line = f"gatewatch: skipped the damaged run folder {timestamp}: {reason}"
        print(visible(line), file=sys.stderr)
    for file, reason in manager.reader.damaged_decisions():  # a person's decision left out
        print(
            visible(f"gatewatch: skipped the damaged decision file {file}: {reason}"),
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_compact(args: argparse.Namespace, config: Config) -> int:
    _existing(config, "compact")
    runs = _writer(args, config).compact()
    if config.archive.url:  # the database is the archive: it has no index.json to write
        nothing = "nothing to compact: a shared archive keeps no index.json"
        print(json.dumps({"compacted": False, "runs": runs}) if args.json else nothing)
    else:
        print(_dump_count(args, "compacted", runs))
    return EXIT_OK


def _dump_count(args: argparse.Namespace, verb: str, runs: int) -> str:
    return json.dumps({verb: True, "runs": runs}) if args.json else f"{verb}: {runs} runs"


def cmd_config_init(args: argparse.Namespace, _config: Config | None) -> int:
    from gating.archive.durable import write_durably  # noqa: PLC0415 - this command only

    target = Path(args.path) if args.path else config_path(args.config)[0]
    replaced = None
    if os.path.lexists(target):  # a dangling symlink too: it would create its target
        replaced = target.lstat()
        if stat.S_ISDIR(replaced.st_mode):
            raise Refused(f"{target}: a folder: name the file in it ({target / 'config.toml'})")
        if not stat.S_ISREG(replaced.st_mode):  # a symlink, a FIFO, a device
            raise Failed(f"{target}: not a regular file, left alone (remove it, or name another)")
        if not args.force:  # as an override unforced is: a usage error, status 2
            raise Refused(f"{target}: already exists (use --force to overwrite)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A temp file renamed over it: never half written, never written through a link,
        # with the mode and owner of the file it replaces (a 0640 file stays unreadable).
        write_durably(target, default_config_text().encode("utf-8"), like=replaced)
    except OSError as error:
        raise Failed(f"{target}: cannot be written: {error.strerror}") from None
    print(json.dumps({"wrote": str(target)}) if args.json else visible(f"wrote {target}"))
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace, config: Config) -> int:
    if args.json:
        import tomllib  # noqa: PLC0415 - only this path needs it

        print_json(tomllib.loads(config_to_toml(config)))
    else:
        sys.stdout.write(config_to_toml(config))
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace, config: Config) -> int:
    unset = config.notify.unset_secrets(os.environ)
    if unset:
        raise ConfigError(unset[0])
    problem = archive_dir_problem(config) or watch_path_problem(config)
    if problem is not None:
        raise ConfigError(f"{config.source}: {problem}" if config.source else problem)
    missing = missing_paths(config)
    if args.json:
        source = str(config.source) if config.source else None
        print_json({"ok": True, "source": source, "missing_paths": [str(p) for p in missing]})
        return EXIT_OK
    print(visible(f"config OK: {config.source or 'defaults (no config file)'}"))
    for path in missing:
        why = why_not_watched(path)  # "does not exist", or "cannot be reached (...)"
        then = "once it is created" if why == "does not exist" else "once it can be reached"
        print(
            f"gatewatch: warning: watch.paths: {path} {why} (the service watches it {then})",
            file=sys.stderr,
        )
    return EXIT_OK
