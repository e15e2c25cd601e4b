"""Which files are summaries (FileFilter), and walking the watched folders for them
(scan), never through a symlink below a watched folder."""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.reading import lies_within, real_roots

__all__ = ["FileFilter", "scan"]

# Why a folder cannot be listed that its owner should hear of (its summaries are never
# archived): no rights (a job's umask 077 as another user), a path past PATH_MAX.
_TOLD = frozenset({errno.EACCES, errno.EPERM, errno.ENAMETOOLONG})


@dataclass(frozen=True, slots=True)
class FileFilter:
    """Which files are summaries: include/exclude globs, and never the archive itself."""

    include: tuple[str, ...]
    exclude: tuple[str, ...]
    ignore: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # Held against absolute paths: a folder named relatively (`gatewatch archive .`)
        # holds the archive as much as its absolute name does.
        object.__setattr__(self, "ignore", tuple(map(_absolute, self.ignore)))

    def ignored(self, folder: Path) -> bool:
        """True for an ignored path itself (the archive)."""
        return bool(self.ignore) and _absolute(folder) in self.ignore

    def excluded_name(self, name: str) -> bool:
        """True when a file or folder name matches an exclude glob."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude)

    def matches(self, path: Path, root: Path | None = None) -> bool:
        """True for a file named like a summary, in no excluded or ignored folder."""
        if not any(fnmatch.fnmatchcase(path.name, pattern) for pattern in self.include):
            return False
        if self.excluded_name(path.name) or self.ignored(path):
            return False
        return not self.excluded_folder(path.parent, root)

    def excluded_folder(self, folder: Path, root: Path | None = None) -> bool:
        """True for an ignored folder (or one in it), or a folder under ``root`` whose name,
        or the name of a folder between it and ``root``, matches an exclude glob."""
        if self.ignore:
            absolute = _absolute(folder)
            if any(absolute == ign or ign in absolute.parents for ign in self.ignore):
                return True
        if root is not None and (folder == root or root in folder.parents):
            return any(self.excluded_name(part) for part in folder.relative_to(root).parts)
        return False


def _absolute(path: Path) -> Path:
    """``path`` made absolute and its ``..`` folded, by name alone (no symlink is read)."""
    return Path(os.path.abspath(path))


def scan(
    roots: Sequence[Path],
    file_filter: FileFilter,
    recursive: bool = True,
    *,
    watched: Sequence[Path] | None = None,
    unreadable: Callable[[Path, OSError], None] | None = None,
) -> Iterator[tuple[Path, os.stat_result]]:
    """Every regular summary file under the roots, with its stat; symlinks are not followed.

    A root that is one of the ``watched`` folders (any root when ``watched`` is None) is
    entered even if it is a symlink. Any other folder (below a root, or a root an event
    named) is entered only if it is no symlink now; with ``watched``, only if it really
    lies inside them, and a root only if it is not excluded from its watched folder down.
    A folder that cannot be listed for want of rights or a name too long is told to
    ``unreadable`` (one gone, or a symlink now, is passed over).
    """
    real = None if watched is None else real_roots(watched)  # once a scan, not a folder
    for root in roots:
        follow = watched is None or root in watched
        if not follow and file_filter.excluded_folder(root, _watched_folder(root, watched)):
            continue
        stack = [(root, follow)]
        while stack:
            folder, follow = stack.pop()
            files, folders = _list_folder(
                folder, file_filter, follow=follow, within=real, unreadable=unreadable
            )
            yield from files
            if recursive:
                stack.extend((sub, False) for sub in folders)


def _watched_folder(folder: Path, watched: Sequence[Path] | None) -> Path | None:
    """The watched folder ``folder`` lies under (by name), or None."""
    return next((root for root in watched or () if root in folder.parents), None)


def _list_folder(
    folder: Path,
    file_filter: FileFilter,
    *,
    follow: bool,
    within: Sequence[str] | None,
    unreadable: Callable[[Path, OSError], None] | None = None,
) -> tuple[list[tuple[Path, os.stat_result]], list[Path]]:
    """The summary files (with their stat) and the subfolders to enter of one folder.

    The folder is opened once, with O_NOFOLLOW unless ``follow``, and listed through that
    descriptor: it cannot be swapped for a symlink between a check and the listing.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(folder, flags)
    except OSError as error:  # gone, not a folder, or a symlink now: passed over
        _tell(unreadable, folder, error)
        return [], []
    files: list[tuple[Path, os.stat_result]] = []
    folders: list[Path] = []
    try:
        if within is not None and not lies_within(fd, within):
            return [], []  # a folder on its way was swapped for a symlink
        # The entries' stat() uses the descriptor: they are used before it is closed.
        with os.scandir(fd) as entries:
            for entry in entries:
                path = folder / entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        excluded = file_filter.excluded_name(entry.name)
                        if not excluded and not file_filter.ignored(path):
                            folders.append(path)
                        continue
                    if not file_filter.matches(path):
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    files.append((path, info))
    except OSError as error:
        _tell(unreadable, folder, error)
        return [], []
    finally:
        os.close(fd)
    return files, folders


def _tell(unreadable: Callable[[Path, OSError], None] | None, folder: Path, error: OSError) -> None:
    """Tell ``unreadable`` of a folder that cannot be listed for a reason its owner mends."""
    if error.errno in _TOLD and unreadable is not None:
        unreadable(folder, error)
