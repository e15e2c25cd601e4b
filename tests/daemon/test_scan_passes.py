"""Tests for daemon.scan_passes: one pass at a time, in slices, polls paced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon import scan_passes
from daemon.scan import FileFilter
from daemon.scan_passes import ScanPasses
from tests.daemon.fakes import FakeClock, FakeLog

FILTER = FileFilter(include=("*_summary.json",), exclude=())


def _folder_of(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "watched"
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
    passes = ScanPasses(FILTER, FakeLog(), FakeClock())
    passes.start("rescan", [folder], True, [folder])
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
    passes = ScanPasses(FILTER, FakeLog(), FakeClock())
    passes.start("startup", [folder], True, [folder])
    finished = passes.advance(lambda *_: True, hurry=lambda: False)
    assert finished is not None
    assert finished.found == 5


@pytest.mark.parametrize(("kind", "paced"), [("poll", True), ("rescan", False)])
def test_only_a_poll_holds_back_the_next_poll(tmp_path: Path, kind: str, paced: bool) -> None:
    """After a poll, the next may start once POLL_PACE - 1 times its time has passed; a
    rescan sets no pace."""
    folder = _folder_of(tmp_path, 3)
    clock = FakeClock()
    passes = ScanPasses(FILTER, FakeLog(), clock)
    assert passes.poll_due()
    passes.start(kind, [folder], True, [folder])
    assert passes.advance(lambda *_: True, hurry=lambda: False) is not None
    assert passes.poll_due() is not paced
    clock.advance(60.0)  # far past 19 x a scan of three files
    assert passes.poll_due()


def test_a_folder_scanned_at_once_hands_each_summary_to_take(tmp_path: Path) -> None:
    """``now`` scans a new folder at once: every summary in it, and no pass is started."""
    folder = _folder_of(tmp_path, 2)
    passes = ScanPasses(FILTER, FakeLog(), FakeClock())
    taken: list[str] = []

    def take(path: Path, _info: os.stat_result, _now: float, _wall: float) -> bool:
        taken.append(path.name)
        return True

    passes.now([folder], True, [folder], take)
    assert sorted(taken) == ["0_summary.json", "1_summary.json"]
    assert passes.current is None
