"""Watching folders with watchdog: which files count, which observer, and what happened."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyFullEmitter, InotifyObserver, InotifyWatchGroup
from watchdog.observers.inotify_c import (
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchCallback,
    WatchDescriptor,
)
from watchdog.observers.polling import PollingObserver

from daemon.scan import FileFilter

__all__ = [
    "NETWORK_FILESYSTEMS",
    "InotifyWatches",
    "WatchEvent",
    "Watcher",
    "choose_observer",
    "filesystem_type",
]

EventKind = Literal["changed", "written", "completed", "deleted", "folder"]

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
]

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


class InotifyWatches(InotifyFD):
    """watchdog's inotify instance, noting each folder whose watch hit the watch limit.

    watchdog skips a subfolder it cannot watch without a word; here each ENOSPC is kept,
    so the service can say so and poll those folders instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._unwatched_lock = threading.Lock()
        self.unwatched: set[Path] = set()

    def add_watch(self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any) -> Any:
        """The one step that adds a watch (tests replace it to simulate the limit)."""
        return super().add_callback(path, mask, callback, id_)

    def add_callback(
        self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any
    ) -> WatchDescriptor:
        """Add a watch; an ENOSPC marks the folder unwatched before watchdog sees it."""
        try:
            wd: WatchDescriptor = self.add_watch(path, mask, callback, id_)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                with self._unwatched_lock:
                    self.unwatched.add(Path(os.fsdecode(path)))
            raise
        return wd


def _walk(top: bytes) -> Iterator[tuple[bytes, list[bytes], list[bytes]]]:
    """os.walk of a folder that never goes through a symlink, ``top`` included: each folder
    is opened with O_NOFOLLOW and listed through that descriptor (a folder swapped for a
    symlink between a check and the listing is not entered)."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        folders: list[bytes] = []
        files: list[bytes] = []
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = os.fsencode(entry.name)
                    try:
                        (folders if entry.is_dir(follow_symlinks=False) else files).append(name)
                    except OSError:
                        continue
        except OSError:
            continue
        finally:
            os.close(fd)
        yield folder, folders, files
        stack.extend(os.path.join(folder, name) for name in reversed(folders))


class _WatchGroup(InotifyWatchGroup):
    """watchdog's recursive watches of one root, never through a symlink below it.

    watchdog walks a new folder with os.walk, which follows the folder itself: one created
    and swapped for a symlink to / before its event was read had watchdog walk the whole
    filesystem, holding its lock (a stop waited minutes for it) and adding watches all
    over it until the watch limit. These two walks are watchdog's, on _walk.
    """

    def _add_all_callbacks(self, path: bytes) -> None:
        if path == self.path:  # the root: watched where it points (see Watcher.add)
            super()._add_all_callbacks(path)
            return
        for folder, _, _ in _walk(path) if self.is_recursive else [(path, [], [])]:
            self._add_callback(folder)

    def _recursive_simulate(self, src_path: bytes) -> list[InotifyEvent]:
        events = []
        for folder, folders, files in _walk(src_path):
            node = self._find_node_by_path(folder)
            if node is None:  # not watched: its own events report it (as watchdog does)
                continue
            for name in folders:
                mask = Mask(InotifyConstants.IN_CREATE | InotifyConstants.IN_ISDIR)
                events.append(InotifyEvent(node.wd, mask, 0, name))
            events.extend(InotifyEvent(node.wd, InotifyConstants.IN_CREATE, 0, n) for n in files)
        return events


class _Emitter(InotifyFullEmitter):
    """watchdog's emitter, with a _WatchGroup."""

    def on_thread_start(self) -> None:
        self._inotify = _WatchGroup(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
        )


class _InotifyObserver(InotifyObserver):
    """An InotifyObserver on a given inotify instance (an InotifyWatches)."""

    def __init__(self, inotify_fd: InotifyFD) -> None:
        self._inotify_fd = inotify_fd
        self._inotify_fd.start()
        BaseObserver.__init__(
            self, _Emitter, timeout=DEFAULT_OBSERVER_TIMEOUT, inotify_fd=inotify_fd
        )


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
        self._watches: dict[Path, tuple[str, Any, int]] = {}  # root -> (kind, watch, inode)
        self._started = False
        self._pending_roots = list(roots)

    def _observer(self, kind: str) -> BaseObserver:
        observer = self._observers.get(kind)
        if observer is None:
            if kind == "native":
                self._inotify = self._inotify_factory()
                observer = _InotifyObserver(self._inotify)
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

    def add(self, root: Path) -> None:
        """Watch one more root (recursively); at the watch limit it is polled instead.

        A root that is a symlink is watched where it points: a watch on the link itself
        sees nothing of what happens in the folder. Events keep the root's name."""
        kind = self.kinds[root] = choose_observer(root, self.setting)
        real = self.resolved[root] = Path(os.path.realpath(root))
        handler = _Handler(root, self.filter, self.emit, closes=kind == "native", real=real)
        try:
            inode = os.stat(root).st_ino
            watch = self._observer(kind).schedule(
                handler, str(real), recursive=self.recursive, event_filter=_EVENTS
            )
            self._watches[root] = (kind, watch, inode)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            self._failed_roots[root] = _folders_under(root) if self.recursive else {root}

    def gone(self) -> list[Path]:
        """The roots watched that are no longer there: removed, or moved away (another
        folder under the name is not the one watched); each is no longer watched."""
        found = []
        for root, (kind, watch, inode) in list(self._watches.items()):
            try:
                there = os.stat(root).st_ino == inode
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

    def _unwatched(self) -> set[Path]:
        inotify = self._inotify
        found = {self._named(p) for p in inotify.unwatched} if inotify is not None else set()
        for folders in self._failed_roots.values():
            found |= folders
        return found

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
        unwatched = self._unwatched()
        return sorted(path for path in unwatched if not any(p in unwatched for p in path.parents))

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
