"""What the disk says of the configured folders: watched paths missing or not folders, an
archive folder that can never be one (config.py reads the file; this looks at the disk)."""

from __future__ import annotations

import os
from pathlib import Path

from daemon.config import Config

__all__ = ["archive_dir_problem", "missing_paths", "watch_path_problem", "why_not_watched"]


def missing_paths(config: Config) -> list[Path]:
    """The watched folders that do not exist (or are not folders) now."""
    return [path for path in config.watch.paths if not path.is_dir()]


def why_not_watched(path: Path) -> str:
    """Why a missing watched path is not watched: another folder replaced the one watched,
    a file (or the like) stands there, or nothing does (a symlink to nowhere included)."""
    if path.is_dir():
        return "replaced by another folder"
    return "not a folder" if path.exists() else "does not exist"


def watch_path_problem(config: Config) -> str | None:
    """Why a watched path can never be watched as it is (it is a file, not a folder), or
    None. A folder not made yet is no problem."""
    for path in missing_paths(config):
        if why_not_watched(path) == "not a folder":
            return f"watch.paths: {path} is not a folder"
    return None


def archive_dir_problem(config: Config) -> str | None:
    """Why ``[archive] dir`` can never be a folder (it, or the nearest of its parents that
    exists, is something else: a file), or None. A folder not made yet is no problem."""
    path = config.archive.dir
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    if path.is_dir():
        return None
    where = "" if path == config.archive.dir else f" ({path} is not a folder)"
    return f"archive.dir: {config.archive.dir} cannot be a folder{where}"
