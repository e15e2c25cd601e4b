"""Watching folders with watchdog: which files count, which observer, and what happened."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from daemon.inotify import InotifyObserverOn, InotifyWatches, root_lost
from daemon.scan import FileFilter

__all__ = [
    "NETWORK_FILESYSTEMS",
    "WatchEvent",
    "Watcher",
    "choose_observer",
    "filesystem_type",
]

EventKind = Literal["changed", "written", "completed", "deleted", "folder", "lost"]

# The watchdog events the service uses. Opens and read-only closes are not among them:
# they would report every read of ours too, and cost more than they tell.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    EventsLostEvent,
]

LOOK_SECONDS = 5.0  # how often the folders inotify could not watch are counted again

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
     "lustre", "gpfs", "davfs", "sshfs", "virtiofs", "vboxsf", "fuse", "fuseblk"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """What the watcher saw happen to one path."""

    kind: EventKind
    path: Path


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/self/mountinfo)."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text("utf-8").splitlines()
    except OSError:
        return kind
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, right.split()[0]
    return kind


def choose_observer(path: Path, setting: str) -> Literal["native", "polling"]:
    """The observer for one folder: polling on network/FUSE mounts when ``auto``."""
    if setting in ("native", "polling"):
        return "native" if setting == "native" else "polling"
    kind = filesystem_type(path)
    return "polling" if kind in NETWORK_FILESYSTEMS or kind.startswith("fuse.") else "native"


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into WatchEvents; it only ever calls ``emit``.

    With ``closes=True`` (inotify) a write means a writer holds the file open until its
    close event. A creation does not (watchdog also reports the files it finds in a new
    folder as created), and a polling observer sees no closes: those only change.
    """

    def __init__(
        self,
        root: Path,
        file_filter: FileFilter,
        emit: Callable[[WatchEvent], None],
        *,
        closes: bool = True,
        real: Path | None = None,
    ):
        self.root = root
        self.real = root if real is None else real  # the folder watched, if root is a symlink
        self.filter = file_filter
        self.emit = emit
        self.kinds: dict[str, EventKind] = {
            "created": "changed",
            "modified": "written" if closes else "changed",
            "closed": "completed",
            "deleted": "deleted",
        }

    def _named(self, path: str | bytes) -> Path:
        """An event's path under the watched name, as scans name it (not the real folder)."""
        return _renamed(Path(os.fsdecode(path)), self.real, self.root)

    def _wanted(self, path: str | bytes) -> Path | None:
        candidate = self._named(path)
        return candidate if path and self.filter.matches(candidate, self.root) else None

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind == "events_lost":  # inotify's queue overflowed: the worker rescans
            self.emit(WatchEvent("lost", self._named(event.src_path)))
            return
        if event.is_directory:
            if kind in ("created", "moved"):
                target = event.dest_path if kind == "moved" else event.src_path
                if target:
                    self.emit(WatchEvent("folder", self._named(target)))
            return
        if kind == "moved":
            source, dest = self._wanted(event.src_path), self._wanted(event.dest_path)
            if source is not None:
                self.emit(WatchEvent("deleted", source))
            if dest is not None:
                self.emit(WatchEvent("completed", dest))
            return
        mapped = self.kinds.get(kind)
        if mapped is not None and (path := self._wanted(event.src_path)) is not None:
            self.emit(WatchEvent(mapped, path))


def _renamed(path: Path, real: Path, root: Path) -> Path:
    """``path`` under ``real`` (the folder a watched symlink points to) named under ``root``."""
    if real == root or (path != real and real not in path.parents):
        return path
    return root / path.relative_to(real)


def _folders_under(root: Path) -> set[Path]:
    """``root`` and every folder below it (symlinks not followed)."""
    found = {root}
    for folder, names, _ in os.walk(root):
        found.update(Path(folder, name) for name in names)
    return found


class Watcher:
    """Watches folders recursively and emits a WatchEvent for every summary-file event.

    Folders inotify cannot watch (the watch limit) are listed by ``poll_roots()`` for the
    service to scan instead; ``unwatched_folders`` counts them.
    """

    def __init__(
        self,
        roots: Sequence[Path],
        file_filter: FileFilter,
        emit: Callable[[WatchEvent], None],
        *,
        observer: str = "auto",
        recursive: bool = True,
        poll_interval: float = 1.0,
        inotify: Callable[[], InotifyWatches] = InotifyWatches,
    ) -> None:
        self.filter = file_filter
        self.emit = emit
        self.setting = observer
        self.recursive = recursive
        self.poll_interval = poll_interval
        self.kinds: dict[Path, Literal["native", "polling"]] = {}
        self.resolved: dict[Path, Path] = {}  # root -> the folder watched (root, unless a symlink)
        self._inotify_factory = inotify
        self._inotify: InotifyWatches | None = None
        self._observers: dict[str, BaseObserver] = {}
        self._failed_roots: dict[Path, set[Path]] = {}  # root -> its folders then
        self._unwatched_cache: frozenset[Path] | None = None
        self._unwatched_at = 0.0
        self._poll_roots: list[Path] | None = None  # of the folders in _unwatched_cache
        self._look_lock = threading.Lock()  # the service's thread and the worker both look
        self._watches: dict[Path, tuple[str, Any, int]] = {}  # root -> (kind, watch, inode)
        self._started = False
        self._pending_roots = list(roots)

    def _observer(self, kind: str) -> BaseObserver:
        observer = self._observers.get(kind)
        if observer is None:
            if kind == "native":
                self._inotify = self._inotify_factory()
                observer = InotifyObserverOn(self._inotify)
            else:
                observer = PollingObserver(timeout=self.poll_interval)
            observer.daemon = True
            observer.start()
            self._observers[kind] = observer
        return observer

    def start(self) -> None:
        """Start watching the roots given at construction."""
        self._started = True
        for root in self._pending_roots:
            self.add(root)
        self._pending_roots = []

    def add(self, root: Path) -> bool:
        """Watch one more root (recursively); at the watch limit it is polled instead.
        False if it is no folder (any more): it went between a look and this.

        A root that is a symlink is watched where it points: a watch on the link itself
        sees nothing of what happens in the folder. Events keep the root's name."""
        kind = self.kinds[root] = choose_observer(root, self.setting)
        real = self.resolved[root] = Path(os.path.realpath(root))
        handler = _Handler(root, self.filter, self.emit, closes=kind == "native", real=real)
        try:
            info = os.stat(root)
            if not stat.S_ISDIR(info.st_mode):  # a file put there since the look
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(root))
            inode = info.st_ino
            watch = self._observer(kind).schedule(
                handler, str(real), recursive=self.recursive, event_filter=_EVENTS
            )
            self._watches[root] = (kind, watch, inode)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                self.kinds.pop(root, None)
                self.resolved.pop(root, None)
                return False
            if error.errno != errno.ENOSPC:
                raise
            self._failed_roots[root] = _folders_under(root) if self.recursive else {root}
        return True

    def _lost(self, kind: str, watch: Any) -> bool:
        """Whether inotify no longer watches a root (see _Emitter.lost_root)."""
        observer = self._observers.get(kind)
        emitters = observer.emitters if observer is not None else ()
        return any(e.watch == watch and root_lost(e) for e in emitters)

    def gone(self) -> list[Path]:
        """The roots watched that are no longer there: removed, or moved away (another
        folder under the name is not the one watched); each is no longer watched."""
        found = []
        for root, (kind, watch, inode) in list(self._watches.items()):
            try:
                there = os.stat(root).st_ino == inode and not self._lost(kind, watch)
            except OSError:
                there = False
            if not there:
                del self._watches[root]
                self.kinds.pop(root, None)
                self.resolved.pop(root, None)
                with contextlib.suppress(KeyError, OSError):
                    self._observers[kind].unschedule(watch)
                found.append(root)
        return found

    def _unwatched(self) -> frozenset[Path]:
        """The folders inotify could not watch that are still there, looked at every
        LOOK_SECONDS at most, as often as they are polled (a stat of each of 30,000 every
        second was 10% of a core spent doing nothing)."""
        with self._look_lock:
            return self._look()

    def _look(self) -> frozenset[Path]:
        now = time.monotonic()
        if self._unwatched_cache is not None and now - self._unwatched_at < LOOK_SECONDS:
            return self._unwatched_cache
        inotify = self._inotify
        raw = inotify.unwatched_now() if inotify is not None else frozenset()
        gone = {folder for folder in raw if not os.path.isdir(folder)}  # outside watchdog's lock
        if inotify is not None and gone:
            inotify.forget(gone)
        found = {self._named(p) for p in raw - gone}
        for root, folders in self._failed_roots.items():
            self._failed_roots[root] = {folder for folder in folders if os.path.isdir(folder)}
            found |= self._failed_roots[root]
        self._unwatched_cache, self._unwatched_at = frozenset(found), now
        self._poll_roots = None
        return self._unwatched_cache

    def _named(self, folder: Path) -> Path:
        """A folder inotify names under a root's real folder, named under the root."""
        for root, real in self.resolved.items():
            if real != root and (folder == real or real in folder.parents):
                return _renamed(folder, real, root)
        return folder

    @property
    def unwatched_folders(self) -> int:
        """How many folders inotify could not watch (the watch limit was reached)."""
        return len(self._unwatched())

    def poll_roots(self) -> list[Path]:
        """The topmost unwatched folders: scanning each recursively covers them all."""
        with self._look_lock:
            unwatched = self._look()
            if self._poll_roots is None:
                self._poll_roots = sorted(
                    path for path in unwatched if not any(p in unwatched for p in path.parents)
                )
            return list(self._poll_roots)

    def is_alive(self) -> bool:
        """True while every observer thread runs."""
        return all(observer.is_alive() for observer in self._observers.values())

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the observers and wait a little for their threads."""
        for observer in self._observers.values():
            observer.stop()
        for observer in self._observers.values():
            if observer.is_alive():
                observer.join(timeout)
