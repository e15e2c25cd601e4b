"""Tests for daemon.inotify: watchdog's walk of a new folder never goes through a symlink."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.inotify_c import (
    InotifyConstants,
    InotifyEvent,
    Mask,
    WatchCallback,
    WatchDescriptor,
)

from daemon.inotify import InotifyWatches, _WatchGroup


class RecordingWatches(InotifyWatches):
    """An inotify instance that notes each folder it is asked to watch."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Path] = []

    def add_watch(self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any) -> Any:
        self.asked.append(Path(os.fsdecode(path)))
        return super().add_watch(path, mask, callback, id_)


@pytest.mark.timeout(30)
def test_a_new_folder_that_is_a_symlink_now_is_neither_walked_nor_watched(tmp_path: Path) -> None:
    """watchdog's walk of a new folder, handed one swapped for a symlink to outside, adds
    no watch and simulates no event there (it walked all of / from a link to it, holding
    its lock, and a stop waited minutes); a real new folder is walked as before, but not
    through a symlinked folder in it."""
    root, outside = tmp_path / "in", tmp_path / "outside"
    (outside / "a" / "b").mkdir(parents=True)
    (outside / "a" / "x_summary.json").write_text("{}")
    root.mkdir()
    inotify = RecordingWatches()  # never started: no event of ours is handled meanwhile
    try:
        mask = Mask(InotifyConstants.IN_CREATE)
        group = _WatchGroup(inotify, os.fsencode(root), is_recursive=True, event_mask=mask)
        assert inotify.asked == [root]
        (root / "race").symlink_to(outside)
        group._add_all_callbacks(os.fsencode(root / "race"))
        assert group._recursive_simulate(os.fsencode(root / "race")) == []
        assert inotify.asked == [root]
        (root / "real" / "sub").mkdir(parents=True)
        (root / "real" / "sub" / "link").symlink_to(outside)
        group._add_all_callbacks(os.fsencode(root / "real"))
        assert inotify.asked == [root, root / "real", root / "real" / "sub"]
        names = [e.name for e in group._recursive_simulate(os.fsencode(root / "real"))]
        assert names == [b"sub", b"link"]  # the link is named (a file to us), never entered
    finally:
        inotify.close()


class RefusingWatches(RecordingWatches):
    """An inotify instance refusing a watch on the folders in ``refused`` as the kernel and
    watchdog do: for lack of rights (EACCES) no error and no watch (-1), at the watch
    limit (ENOSPC) an error."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: dict[Path, int] = {}

    def add_watch(self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any) -> Any:
        refusal = self.refused.get(Path(os.fsdecode(path)))
        if refusal == errno.EACCES:
            return WatchDescriptor(-1)
        if refusal is not None:
            raise OSError(refusal, os.strerror(refusal))
        return super().add_watch(path, mask, callback, id_)


@pytest.mark.timeout(30)
def test_a_folder_made_readable_is_watched(tmp_path: Path) -> None:
    """A change of mode or owner on a subfolder inotify refused to watch for lack of
    rights adds its watch, as a new folder's would, once; one on a folder watched
    already, or past the watch limit (a chmod there walked its whole tree again), adds
    nothing."""
    root = tmp_path / "in"
    for name in ("locked", "open"):
        (root / name).mkdir(parents=True)
    inotify = RefusingWatches()  # never started: events are handed to the group here
    inotify.refused = {root / "locked": errno.EACCES, root / "past_limit": errno.ENOSPC}
    try:
        mask = Mask(InotifyConstants.IN_CREATE | InotifyConstants.IN_ATTRIB)
        group = _WatchGroup(inotify, os.fsencode(root), is_recursive=True, event_mask=mask)
        assert group._root is not None
        root_wd = group._root.wd
        (root / "past_limit").mkdir()
        new_folder = Mask(InotifyConstants.IN_CREATE | InotifyConstants.IN_ISDIR)
        group.on_event(InotifyEvent(root_wd, new_folder, 0, b"past_limit"))
        assert sorted(inotify.asked) == [root, root / "open"]
        attrib = Mask(InotifyConstants.IN_ATTRIB | InotifyConstants.IN_ISDIR)
        inotify.refused = {}
        for changed in (b"open", b"past_limit", b"locked", b"locked"):
            group.on_event(InotifyEvent(root_wd, attrib, 0, changed))
        assert sorted(inotify.asked) == [root, root / "locked", root / "open"]
        node = group._find_node_by_path(os.fsencode(root / "locked"))
        assert node is not None
        assert node.wd >= 0
    finally:
        inotify.close()
