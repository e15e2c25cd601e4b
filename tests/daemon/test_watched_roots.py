"""Tests for daemon.watched_roots: watched folders missing, gone and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.scan import FileFilter
from daemon.watched_roots import WatchedRoots
from daemon.watcher import Watcher
from tests.daemon.fakes import FakeLog
from tests.process import wait_until

FILTER = FileFilter(("*summary*.json",), (".*",), (Path("/w/archive"),))


@pytest.mark.timeout(20)
def test_a_missing_folder_is_warned_about_then_watched_and_scanned_once_there(
    tmp_path: Path,
) -> None:
    """A folder missing at the start is warned about (and at each rescan), watched and
    handed to the worker's scan once made, and missing again once removed."""
    here, later = tmp_path / "here", tmp_path / "later"
    here.mkdir()
    log, scanned = FakeLog(), list[Path]()
    watcher = Watcher([], FILTER, lambda _event: None, observer="native")
    roots = WatchedRoots(watcher, log, scanned.append)
    watcher.start()
    try:
        roots.start([here, later], [later])
        assert [f["path"] for f in log.named("watch_path_missing")] == [str(later)]
        assert log.named("watching") == [{"observers": {str(here): "native"}}]
        roots.warn_missing()
        assert len(log.named("watch_path_missing")) == 2
        roots.look()
        assert scanned == []
        later.mkdir()
        roots.look()
        assert scanned == [later]
        assert roots.missing == set()
        assert [f["path"] for f in log.named("watch_path_appeared")] == [str(later)]
        later.rmdir()

        def missing_again() -> bool:
            roots.look()
            return later in roots.missing

        wait_until(missing_again, 10, "the removed folder missing again")
    finally:
        watcher.stop()


@pytest.mark.parametrize(
    ("a_file_there", "reason", "action"),
    [
        (False, "does not exist", "watching it when it appears"),
        (True, "not a folder", "watching it when a folder replaces it"),
    ],
)
def test_why_a_folder_is_missing_is_said(
    tmp_path: Path, a_file_there: bool, reason: str, action: str
) -> None:
    """Nothing at the path, or a file there: the warning says which, and what is done."""
    path = tmp_path / "in"
    if a_file_there:
        path.write_text("x")
    log = FakeLog()
    watcher = Watcher([], FILTER, lambda _event: None, observer="native")
    WatchedRoots(watcher, log, lambda _path: None).start([path], [path])
    expected = {"path": str(path), "reason": reason, "action": action}
    assert log.named("watch_path_missing") == [expected]
