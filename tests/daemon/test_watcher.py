"""Tests for daemon.watcher: observer choice, event mapping and watching symlinked roots."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    EventsLostEvent,
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

from daemon import watcher
from daemon.scan import FileFilter
from daemon.watcher import WatchEvent, choose_observer
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
        (EventsLostEvent("/w", is_directory=True), [WatchEvent("lost", Path("/w"))]),
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


def test_adding_a_folder_gone_meanwhile_says_so(tmp_path: Path) -> None:
    """A watched folder removed between the look and the watch is not added (False), and
    nothing raises (the service died of FileNotFoundError)."""
    watching = watcher.Watcher([], FILTER, lambda _event: None, observer="native")
    watching.start()
    try:
        assert watching.add(tmp_path / "gone") is False
        (tmp_path / "a file").write_text("x")  # put where a watched folder was
        assert watching.add(tmp_path / "a file") is False
        assert watching.kinds == {}
        (tmp_path / "there").mkdir()
        assert watching.add(tmp_path / "there") is True
    finally:
        watching.stop()


@pytest.mark.timeout(20)
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_folder_mounted_again_under_the_same_inode_is_gone(tmp_path: Path) -> None:
    """A tmpfs unmounted and mounted again on the watched folder (inode 1 both times, as
    ext4 reuses a deleted folder's inode): the old watch is gone, so the folder is watched
    anew (it was never watched again, without a word)."""
    root = tmp_path / "in"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root)], check=True)
    watching = watcher.Watcher([root], FILTER, lambda _event: None, observer="native")
    try:
        watching.start()
        inode = root.stat().st_ino
        subprocess.run(["umount", str(root)], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root)], check=True)
        assert root.stat().st_ino == inode
        found: list[Path] = []

        def gone() -> list[Path]:
            found.extend(watching.gone())
            return found

        wait_until(gone, 10, "the watch gone")
        assert found == [root]
    finally:
        watching.stop()
        subprocess.run(["umount", str(root)], check=False)
