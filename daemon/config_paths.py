"""What the disk says of the configured folders: watched paths missing or not folders, an
archive folder that can never be one (config.py reads the file; this looks at the disk)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from daemon.config import Config

__all__ = ["archive_dir_problem", "missing_paths", "watch_path_problem", "why_not_watched"]


def missing_paths(config: Config) -> list[Path]:
    """The watched folders that do not exist (or are not folders, or cannot be reached) now."""
    return [path for path in config.watch.paths if not os.path.isdir(path)]


def why_not_watched(path: Path) -> str:
    """Why a missing watched path is not watched: another folder replaced the one watched,
    a file (or the like) stands there, nothing does (a symlink to nowhere included), or a
    folder on the way may not be searched (Path.is_dir raised PermissionError: the service
    exited)."""
    try:
        found = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except OSError as error:
        return f"cannot be reached ({error.strerror or error})"
    return "replaced by another folder" if stat.S_ISDIR(found.st_mode) else "not a folder"


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
    try:
        os.stat(path)
    except PermissionError as error:  # a folder on the way may not be searched
        return f"archive.dir: {path} cannot be reached ({error.strerror})"
    except OSError:
        pass  # not made yet, or something else: see below
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    if os.path.isdir(path):
        return None
    where = "" if path == config.archive.dir else f" ({path} is not a folder)"
    return f"archive.dir: {config.archive.dir} cannot be a folder{where}"
