"""Tests for daemon.watcher: the file filter, the scan, observer choice and event mapping."""

from __future__ import annotations

import os
from pathlib import Path

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

from daemon import watcher
from daemon.watcher import FileFilter, WatchEvent, choose_observer, scan

FILTER = FileFilter(("*summary*.json",), (".*", "*.tmp", "*.part", "*~"), (Path("/w/archive"),))


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/w/run_summary.json", True),
        ("/w/summary.json", True),
        ("/w/deep/er/x_summary_y.json", True),
        ("/w/results.json", False),
        ("/w/.run_summary.json", False),
        ("/w/run_summary.json.tmp", False),
        ("/w/run_summary.json~", False),
        ("/w/.hidden/run_summary.json", False),
        ("/w/archive/2024/summary.json", False),
    ],
)
def test_file_filter(path: str, wanted: bool) -> None:
    """Include globs pick summaries; excludes apply to the name and to folders under the root."""
    assert FILTER.matches(Path(path), Path("/w")) is wanted


def test_scan_finds_only_regular_summary_files(tmp_path: Path) -> None:
    """The scan skips symlinks, FIFOs, folders named like summaries and excluded folders."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "run_summary.json").write_text("{}")
    (tmp_path / "b_summary.json").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "summary.json").write_text("{}")
    outside = tmp_path.parent / f"{tmp_path.name}-outside_summary.json"
    outside.write_text("{}")
    (tmp_path / "link_summary.json").symlink_to(outside)
    os.mkfifo(tmp_path / "fifo_summary.json")
    flt = FileFilter(("*summary*.json",), (".*",))
    found = [path for path, _ in scan([tmp_path], flt)]
    assert found == [tmp_path / "a" / "run_summary.json"]
    assert [p for p, _ in scan([tmp_path], flt, recursive=False)] == []


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
