"""Tests for daemon.scan_passes: one pass at a time, in slices, polls paced."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from daemon import scan_passes
from daemon.scan import FileFilter
from daemon.scan_passes import ScanPasses
from tests.daemon.fakes import FakeClock, FakeLog

FILTER = FileFilter(include=("*_summary.json",), exclude=())


def _folder_of(tmp_path: Path, count: int, name: str = "watched") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for index in range(count):
        (folder / f"{index}_summary.json").write_bytes(b"{}")
    (folder / "notes.txt").write_bytes(b"not a summary")
    return folder


def test_a_pass_advances_one_file_a_slice_while_files_wait_and_counts_the_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With files waiting and no slice time, each turn takes one file; the pass is returned
    once done, counting only the files ``take`` said were new."""
    monkeypatch.setattr(scan_passes, "SCAN_SLICE_SECONDS", 0.0)
    folder = _folder_of(tmp_path, 4)
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), FakeClock())
    passes.start("rescan")
    seen: list[str] = []

    def take(path: Path, _info: os.stat_result, _now: float, _wall: float) -> bool:
        seen.append(path.name)
        return path.name != "0_summary.json"  # known already

    turns = 0
    while (finished := passes.advance(take, hurry=lambda: True)) is None:
        turns += 1
        assert turns < 10
    assert turns == 4  # one file a turn; the next finds the pass at its end
    assert sorted(seen) == [f"{i}_summary.json" for i in range(4)]
    assert (finished.kind, finished.found) == ("rescan", 3)
    assert passes.current is None
    assert passes.advance(take, hurry=lambda: True) is None  # nothing under way


def test_with_no_file_waiting_a_slice_goes_on_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing waiting (``hurry`` False): the short slice does not cut the pass."""
    monkeypatch.setattr(scan_passes, "SCAN_SLICE_SECONDS", 0.0)
    folder = _folder_of(tmp_path, 5)
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), FakeClock())
    passes.start("startup")
    finished = passes.advance(lambda *_: True, hurry=lambda: False)
    assert finished is not None
    assert finished.found == 5


def test_the_long_slice_ends_a_turn_even_with_no_file_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SCAN_TURN_SECONDS a turn ends though nothing waits (the inbox and a stop are
    looked at between turns)."""
    monkeypatch.setattr(scan_passes, "SCAN_TURN_SECONDS", 0.0)
    folder = _folder_of(tmp_path, 2)
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), FakeClock())
    passes.start("rescan")
    assert passes.advance(lambda *_: True, hurry=lambda: False) is None
    assert passes.advance(lambda *_: True, hurry=lambda: False) is None
    assert passes.advance(lambda *_: True, hurry=lambda: False) is not None


def _ticking(monkeypatch: pytest.MonkeyPatch, step: float) -> None:
    """scan_passes' perf_counter moves ``step`` seconds at each reading."""
    readings = iter(range(1_000_000))
    fake = SimpleNamespace(perf_counter=lambda: next(readings) * step)
    monkeypatch.setattr(scan_passes, "time", fake)


@pytest.mark.parametrize(("kind", "paced"), [("poll", True), ("rescan", False)])
def test_only_a_poll_holds_back_the_next_poll_for_19_times_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, paced: bool
) -> None:
    """After a poll that took 0.4 s, the next may start 7.6 s later (POLL_PACE - 1 times
    as long: polling takes 1/20 of the time at most); a rescan sets no pace."""
    folder = _folder_of(tmp_path, 3)
    clock = FakeClock()
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), clock)
    assert passes.poll_due()
    if kind == "poll":
        passes.start_poll([folder])
    else:
        passes.start(kind)
    _ticking(monkeypatch, 0.1)  # read at the start, after each of 3 files and at the end
    assert passes.advance(lambda *_: True, hurry=lambda: False) is not None
    assert passes.poll_due() is not paced
    clock.advance(7.5)
    assert passes.poll_due() is not paced
    clock.advance(0.2)
    assert passes.poll_due()


def test_a_poll_root_swapped_for_a_symlink_to_outside_is_not_entered(tmp_path: Path) -> None:
    """A poll stays inside the watched folders: an unwatched folder replaced by a symlink
    to a folder outside them is not followed."""
    watched = tmp_path / "watched"
    watched.mkdir()
    outside = _folder_of(tmp_path, 2, name="outside")
    (watched / "job").symlink_to(outside, target_is_directory=True)
    passes = ScanPasses(FILTER, [watched], True, FakeLog(), FakeClock())
    passes.start_poll([watched / "job"])
    taken: list[Path] = []

    def take(path: Path, _info: os.stat_result, _now: float, _wall: float) -> bool:
        taken.append(path)
        return True

    assert passes.advance(take, hurry=lambda: False) is not None
    assert taken == []


def test_a_second_pass_cannot_start_over_one_under_way(tmp_path: Path) -> None:
    """Starting a pass while one runs is the worker's bug, said at once (RuntimeError)."""
    folder = _folder_of(tmp_path, 1)
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), FakeClock())
    passes.start("startup")
    with pytest.raises(RuntimeError, match="startup pass is under way"):
        passes.start_poll([folder])


def test_a_folder_scanned_at_once_hands_each_summary_to_take(tmp_path: Path) -> None:
    """``scan_at_once`` scans a new folder at once: every summary in it, no pass started."""
    folder = _folder_of(tmp_path, 2)
    passes = ScanPasses(FILTER, [folder], True, FakeLog(), FakeClock())
    taken: list[str] = []

    def take(path: Path, _info: os.stat_result, _now: float, _wall: float) -> bool:
        taken.append(path.name)
        return True

    passes.scan_at_once([folder], take)
    assert sorted(taken) == ["0_summary.json", "1_summary.json"]
    assert passes.current is None
