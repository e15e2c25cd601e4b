"""Tests for daemon.watcher: observer choice, event mapping and watching symlinked roots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from watchdog.events import (
    DirCreatedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)
from watchdog.observers.inotify_c import InotifyConstants, Mask, WatchCallback

from daemon import watcher
from daemon.scan import FileFilter
from daemon.watcher import InotifyWatches, WatchEvent, choose_observer
from tests.process import wait_until

FILTER = FileFilter(("*summary*.json",), (".*", "*.tmp", "*.part", "*~"), (Path("/w/archive"),))


@pytest.mark.parametrize(
    ("fstype", "setting", "expected"),
    [
        ("ext4", "auto", "native"),
        ("nfs4", "auto", "polling"),
        ("cifs", "auto", "polling"),
        ("fuse.sshfs", "auto", "polling"),
        ("nfs", "native", "native"),
        ("ext4", "polling", "polling"),
    ],
)
def test_choose_observer(
    monkeypatch: pytest.MonkeyPatch, fstype: str, setting: str, expected: str
) -> None:
    """auto picks polling on network and FUSE filesystems, native elsewhere."""
    monkeypatch.setattr(watcher, "filesystem_type", lambda _path: fstype)
    assert choose_observer(Path("/data"), setting) == expected


def test_filesystem_type_reads_mountinfo() -> None:
    """The root filesystem has a type."""
    assert watcher.filesystem_type(Path("/")) not in ("", "unknown")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            FileCreatedEvent("/w/run_summary.json"),
            [WatchEvent("changed", Path("/w/run_summary.json"))],
        ),
        (
            FileModifiedEvent("/w/run_summary.json"),
            [WatchEvent("written", Path("/w/run_summary.json"))],
        ),
        (
            FileClosedEvent("/w/run_summary.json"),
            [WatchEvent("completed", Path("/w/run_summary.json"))],
        ),
        (FileOpenedEvent("/w/run_summary.json"), []),
        (FileClosedNoWriteEvent("/w/run_summary.json"), []),
        (FileAttribEvent("/w/run_summary.json"), []),
        (
            FileDeletedEvent("/w/run_summary.json"),
            [WatchEvent("deleted", Path("/w/run_summary.json"))],
        ),
        (
            FileMovedEvent("/w/run_summary.json.tmp", "/w/run_summary.json"),
            [WatchEvent("completed", Path("/w/run_summary.json"))],
        ),
        (
            FileMovedEvent("", "/w/run_summary.json"),
            [WatchEvent("completed", Path("/w/run_summary.json"))],
        ),
        (
            FileMovedEvent("/w/run_summary.json", "/w/done.json"),
            [WatchEvent("deleted", Path("/w/run_summary.json"))],
        ),
        (DirCreatedEvent("/w/new"), [WatchEvent("folder", Path("/w/new"))]),
        (FileCreatedEvent("/w/notes.txt"), []),
        (FileClosedEvent("/w/run_summary.json.part"), []),
    ],
)
def test_handler_maps_watchdog_events(event: FileSystemEvent, expected: list[WatchEvent]) -> None:
    """Each watchdog event becomes at most the WatchEvents the worker needs."""
    seen: list[WatchEvent] = []
    watcher._Handler(Path("/w"), FILTER, seen.append).dispatch(event)
    assert seen == expected


def test_polling_writes_only_change() -> None:
    """A polling observer sends no close events, so its writes are left to settle."""
    seen: list[WatchEvent] = []
    handler = watcher._Handler(Path("/w"), FILTER, seen.append, closes=False)
    handler.dispatch(FileModifiedEvent("/w/run_summary.json"))
    assert seen == [WatchEvent("changed", Path("/w/run_summary.json"))]


def test_handler_names_events_in_a_symlinked_root_under_the_root() -> None:
    """Events in the folder a watched symlink points to are named under the watched path,
    as the scans name them (two names would archive a file twice)."""
    seen: list[WatchEvent] = []
    handler = watcher._Handler(Path("/w"), FILTER, seen.append, real=Path("/real/w"))
    handler.dispatch(FileClosedEvent("/real/w/a/run_summary.json"))
    handler.dispatch(DirCreatedEvent("/real/w/new"))
    handler.dispatch(FileClosedEvent("/real/w/.hidden/run_summary.json"))
    assert seen == [
        WatchEvent("completed", Path("/w/a/run_summary.json")),
        WatchEvent("folder", Path("/w/new")),
    ]


@pytest.mark.timeout(20)
def test_a_watched_folder_that_is_a_symlink_gets_events(tmp_path: Path) -> None:
    """inotify watches the folder a watched symlink points to, so a file written there is
    reported at once, under the watched name (the watch sat on the link: no events)."""
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    seen: list[WatchEvent] = []
    watching = watcher.Watcher([link], FILTER, seen.append, observer="native")
    watching.start()
    try:
        assert watching.resolved == {link: Path(os.path.realpath(real))}
        (real / "run_summary.json").write_text("{}")
        expected = WatchEvent("completed", link / "run_summary.json")
        wait_until(lambda: expected in seen, 10, "the close event under the watched name")
    finally:
        watching.stop()


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
    inotify = RecordingWatches()
    inotify.start()
    try:
        mask = Mask(InotifyConstants.IN_CREATE)
        group = watcher._WatchGroup(inotify, os.fsencode(root), is_recursive=True, event_mask=mask)
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
