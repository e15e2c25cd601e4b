"""watchdog's inotify, adapted: the folders the watch limit left unwatched are noted, no
walk of a new folder ever goes through a symlink, and a folder made readable is watched."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

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

__all__ = ["InotifyObserverOn", "InotifyWatches", "root_lost"]


class InotifyWatches(InotifyFD):
    """watchdog's inotify instance, noting each folder whose watch hit the watch limit,
    and each refused for lack of rights.

    watchdog skips a subfolder it cannot watch without a word; here each ENOSPC is kept,
    so the service can say so and poll those folders instead, and each EACCES, so the
    folder is watched once it may be read.
    """

    def __init__(self) -> None:
        super().__init__()
        self._unwatched_lock = threading.Lock()
        self.unwatched: set[Path] = set()
        self._refused: set[bytes] = set()  # folders refused for lack of rights

    def add_watch(self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any) -> Any:
        """The one step that adds a watch (tests replace it to simulate the limit)."""
        return super().add_callback(path, mask, callback, id_)

    def add_callback(
        self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any
    ) -> WatchDescriptor:
        """Add a watch; an ENOSPC marks the folder unwatched before watchdog sees it, a
        refusal for lack of rights (EACCES) marks it refused."""
        try:
            wd: WatchDescriptor = self.add_watch(path, mask, callback, id_)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                with self._unwatched_lock:
                    self.unwatched.add(Path(os.fsdecode(path)))
            elif error.errno in (errno.EACCES, errno.EPERM):
                self._refused.add(path)
            raise
        if wd < 0:  # watchdog's answer to EACCES: no error, no watch
            self._refused.add(path)
        return wd

    def was_refused(self, path: bytes) -> bool:
        """Whether a watch on ``path`` was refused for lack of rights, forgotten as told
        (the caller is about to ask again)."""
        try:
            self._refused.remove(path)  # one step: emitters of other roots share the set
        except KeyError:
            return False
        return True

    def unwatched_now(self) -> frozenset[Path]:
        """The folders the limit left unwatched, a copy (watchdog's thread adds to them)."""
        with self._unwatched_lock:
            return frozenset(self.unwatched)

    def forget(self, folders: Iterable[Path]) -> None:
        """Stop counting these unwatched folders (gone: the count said the limit was
        reached for good)."""
        with self._unwatched_lock:
            self.unwatched.difference_update(folders)


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

    def watches_root(self) -> bool:
        """Whether the kernel still watches the root: its watch ends (IN_IGNORED) when the
        folder is deleted or the filesystem on it unmounted, whatever stands there now.
        While watchdog holds the group (walking a tree moved in: seconds for 50,000
        folders) it is taken as watched, and looked at again next time: the service's
        loop never waits for it."""
        if not self._lock.acquire(blocking=False):
            return True
        try:
            return self._root is not None and self._root.wd in self._nodes_by_wd
        finally:
            self._lock.release()

    def on_event(self, event: InotifyEvent) -> None:
        """watchdog's, but a subfolder whose mode or owner changed, whose watch inotify
        refused for lack of rights, and that may be read now counts as created: it is
        watched, with the folders inside, and what is there reported. (One past the watch
        limit is not: a chmod there walked its whole tree again.)"""
        fd, subfolder = self._inotify_fd, event.is_directory and bool(event.name)
        if event.is_attrib and subfolder and isinstance(fd, InotifyWatches):
            with self._lock:
                path = self._build_event_source_path(event)
            if path is not None and os.access(path, os.R_OK | os.X_OK) and fd.was_refused(path):
                mask = Mask(InotifyConstants.IN_CREATE | InotifyConstants.IN_ISDIR)
                event = InotifyEvent(event.wd, mask, 0, event.name)
        super().on_event(event)

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

    def lost_root(self) -> bool:
        """Whether its root is no longer watched: deleted (the emitter stopped itself) or
        unmounted, though a new folder may stand there under the same inode number (ext4
        reuses them; a tmpfs mounted again has inode 1)."""
        if not self.should_keep_running():  # stopped: its _inotify is gone (None) too
            return True
        group = self._inotify
        return isinstance(group, _WatchGroup) and not group.watches_root()

    def on_thread_start(self) -> None:
        self._inotify = _WatchGroup(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
        )


class InotifyObserverOn(InotifyObserver):
    """An InotifyObserver on a given inotify instance (an InotifyWatches)."""

    def __init__(self, inotify_fd: InotifyFD) -> None:
        self._inotify_fd = inotify_fd
        self._inotify_fd.start()
        BaseObserver.__init__(
            self, _Emitter, timeout=DEFAULT_OBSERVER_TIMEOUT, inotify_fd=inotify_fd
        )


def root_lost(emitter: object) -> bool:
    """Whether an observer's emitter no longer watches its root (see _Emitter.lost_root);
    False for any other emitter (polling's: it looks at the path each time)."""
    return isinstance(emitter, _Emitter) and emitter.lost_root()
