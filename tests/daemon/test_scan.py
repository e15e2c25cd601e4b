"""Tests for daemon.scan: which files are summaries, and walking folders for them."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from daemon.scan import FileFilter, scan
from tests.conftest import nest_past_path_max

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


def _summary_in(folder: Path, name: str = "x_summary.json") -> Path:
    """A summary-named file in ``folder`` (made if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{}")
    return path


def test_a_folder_an_event_named_is_not_entered_if_it_is_a_symlink_now(tmp_path: Path) -> None:
    """A new subfolder swapped for a symlink to outside the watched folder is not scanned
    (its target's files were archived or rejected, and a link to / stalled the worker)."""
    watched, outside = tmp_path / "in", tmp_path / "outside"
    watched.mkdir()
    _summary_in(outside / "deeper")
    (watched / "race").symlink_to(outside)
    assert list(scan([watched / "race"], FILTER, watched=[watched])) == []


def test_a_folder_reached_through_a_symlinked_parent_is_not_entered(tmp_path: Path) -> None:
    """A folder an event named whose parent became a symlink to outside is not scanned
    (O_NOFOLLOW guards only the last name: where the folder really is decides)."""
    watched, outside = tmp_path / "in", tmp_path / "outside"
    watched.mkdir()
    _summary_in(outside / "sub")
    (watched / "a").symlink_to(outside)
    assert list(scan([watched / "a" / "sub"], FILTER, watched=[watched])) == []


def test_a_watched_folder_that_is_a_symlink_is_scanned_under_its_name(tmp_path: Path) -> None:
    """A watched path that is a symlink is followed (it is the configured folder), its
    files named under the watched path; a symlinked subfolder in it still is not."""
    real = tmp_path / "real"
    wanted = _summary_in(real / "sub")
    (real / "loop").symlink_to(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    found = [path for path, _ in scan([link], FILTER, watched=[link])]
    assert found == [link / "sub" / wanted.name]
    assert [path for path, _ in scan([link / "sub"], FILTER, watched=[link])] == found


@pytest.mark.parametrize(
    ("folder", "found"),
    [(".hidden", False), (".incoming/deeper", False), ("x.tmp", False), ("plain/deeper", True)],
)
def test_a_folder_an_event_named_is_not_scanned_when_excluded(
    tmp_path: Path, folder: str, found: bool
) -> None:
    """A new folder whose name, or a parent's name below the watched folder, matches an
    exclude glob is not scanned (a new dot-folder's summaries were archived)."""
    watched = tmp_path / "in"
    path = _summary_in(watched / folder)
    scanned = [p for p, _ in scan([watched / folder], FILTER, watched=[watched])]
    assert scanned == ([path] if found else [])


def test_excluded_folder_applies_the_globs_below_the_root_and_the_ignored_folders() -> None:
    """Folder names below the root are matched, the root's own path is not; an ignored
    folder and the folders in it are excluded wherever they are."""
    assert FILTER.excluded_folder(Path("/w/.hidden/deep"), Path("/w"))
    assert not FILTER.excluded_folder(Path("/w/plain/deep"), Path("/w"))
    assert not FILTER.excluded_folder(Path("/.w/plain"), Path("/.w"))
    assert FILTER.excluded_folder(Path("/w/archive/2024"), None)
    assert not FILTER.excluded_folder(Path("/w/.hidden"), None)


def test_a_folder_past_path_max_is_told_not_passed_over_in_silence(tmp_path: Path) -> None:
    """A folder that cannot be listed for a name too long (or for want of rights) is told
    to ``unreadable``, once a scan, with why; its summaries are not found."""
    nest_past_path_max(tmp_path, "run_summary.json")
    told: list[tuple[Path, int | None]] = []
    found = list(scan([tmp_path], FILTER, unreadable=lambda p, e: told.append((p, e.errno))))
    assert found == []
    ((folder, code),) = told
    assert code == errno.ENAMETOOLONG
    assert len(str(folder)) > 4096


def test_the_archive_below_a_relative_root_is_not_entered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive named absolutely is not entered when the root is named relatively
    (`gatewatch archive .`): its folders were all walked, their files filtered out."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archive" / "run").mkdir(parents=True)
    entered: list[str] = []
    listed = os.scandir

    def spy(fd: int) -> Any:
        entered.append(os.readlink(f"/proc/self/fd/{fd}"))
        return listed(fd)

    monkeypatch.setattr(os, "scandir", spy)
    ignoring = FileFilter(("*summary*.json",), (), (tmp_path / "archive",))
    assert list(scan([Path(".")], ignoring)) == []
    assert entered == [str(tmp_path)]
