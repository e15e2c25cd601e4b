"""Tests for daemon.inotify: watchdog's walk of a new folder never goes through a symlink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.inotify_c import InotifyConstants, Mask, WatchCallback

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
