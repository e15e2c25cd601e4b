"""Tests for gating.archive.outbox and its wiring: durable segments, cursors, pruning."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path

import pytest

from gating import ArchiveError, TrainingArchiveManager
from gating.archive import outbox as outbox_module
from gating.archive.disk import Disk
from gating.archive.outbox import Cursor, Outbox
from gating.events import run_events
from tests.conftest import make_summary
from tests.faulty_disk import FaultyDisk


def ev(n: int, kind: str = "run_archived") -> dict[str, object]:
    """A minimal event."""
    return {"id": f"e{n}", "type": kind, "time": "t", "data": {"n": n}}


def test_append_writes_segments_in_order(tmp_path: Path) -> None:
    """Each append is one segment; names increase; the events read back in order."""
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.append([]) is None
    names = [str(outbox.append([ev(i), ev(i + 100)])) for i in range(5)]
    assert names == sorted(names)
    assert outbox.segments() == names
    assert [e["id"] for n in names for e in outbox.read_segment(n)] == [
        f"e{i}" for pair in ((i, i + 100) for i in range(5)) for i in pair
    ]
    assert not [p for p in (tmp_path / "outbox" / "segments").iterdir() if p.name.startswith(".")]


def test_a_new_segment_sorts_after_every_cursor(tmp_path: Path) -> None:
    """Even with a cursor ahead of the clock, a new segment comes after it (never skipped)."""
    outbox = Outbox(tmp_path / "outbox")
    far = f"{time.time_ns() + 365 * 24 * 3600 * 10**9:020d}.jsonl"  # a year ahead
    outbox.save_cursor("t", Cursor(far, 3))
    name = Outbox(tmp_path / "outbox").append([ev(1)])
    assert name is not None
    assert name > far


@pytest.mark.parametrize(
    "segment", ["99999999999999999999.jsonl", f"{2**63:020d}.jsonl", "zzz", "1.jsonl", "../x"]
)
def test_a_cursor_edited_by_hand_starts_again_and_misses_nothing(
    tmp_path: Path, segment: str
) -> None:
    """A cursor naming no segment of ours (a number past any we make, or text) reads as
    none: the target is sent every event again, those to come included (before: the next
    name had 21 digits, or sorted before the cursor, and no event was sent again)."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    outbox.save_cursor("t", Cursor(segment, 0, delivered=4))
    name = outbox.append([ev(2)])
    assert name is not None
    assert len(name) == len("00000000000000000000.jsonl")
    assert outbox.cursor("t") == Cursor(delivered=4)
    assert [e["id"] for _, _, e in outbox.pending("t")] == ["e1", "e2"]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (b'{"segment": "", "line": Infinity}', Cursor()),
        (b'{"segment": "", "line": 1e999, "delivered": 3}', Cursor()),
        (b'{"segment": "", "line": 0, "delivered": -Infinity}', Cursor()),
        (b'{"segment": "", "line": -5, "delivered": -2, "failed": 1}', Cursor(failed=1)),
    ],
)
def test_a_cursor_of_numbers_no_int_holds_is_read_as_one_and_stops_nothing(
    tmp_path: Path, text: bytes, read: Cursor
) -> None:
    """A cursor holding Infinity, 1e999 or a negative number, under any target's name:
    it reads as a cursor from the start, and events are still written and counted (before:
    OverflowError in every append, so the service died and never started again)."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.cursors_dir.mkdir(parents=True)
    (outbox.cursors_dir / "zzz.json").write_bytes(text + b"\n")
    assert outbox.cursor("zzz") == read
    outbox.emit_durably([ev(1)])
    assert outbox.counts("zzz", lambda _: True)["pending"] == 1


@pytest.mark.parametrize("digit", ["\uff10", "\u0660", "\u0966"])
def test_a_segment_named_in_other_digits_is_passed_over(tmp_path: Path, digit: str) -> None:
    """A segment named with twenty fullwidth, Arabic-Indic or Devanagari zeros is not ours:
    events go on being written and sent after it (before: it read as 0, sorted after every
    name of ours, and no event was sent again, without a line)."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    (outbox.segments_dir / f"{digit * 20}.jsonl").write_bytes(b"")
    (outbox.segments_dir / "00000000000000000001.jsonl\n").write_bytes(b"")
    outbox.append([ev(2)])
    assert len(outbox.segments()) == 2
    assert [e["id"] for _, _, e in outbox.pending("t")] == ["e1", "e2"]


def test_a_segment_named_by_hand_just_within_our_numbers_is_read_and_followed(
    tmp_path: Path,
) -> None:
    """A planted segment named as far ahead of the clock as one of ours may be, and a cursor
    left on it: the names after it are still 20 digits, sort after it and are read (a
    bound of fixed numbers had a last name whose next was past it: nothing more was read)."""
    outbox = Outbox(tmp_path / "outbox")
    edge = time.time_ns() + outbox_module._AHEAD_NS - 1_000
    planted = tmp_path / "outbox" / "segments" / f"{edge:020d}.jsonl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(json.dumps(ev(0)).encode() + b"\n")
    outbox.save_cursor("t", Cursor(planted.name, 0))
    names = [str(outbox.append([ev(1)])), str(outbox.append([ev(2)]))]
    assert outbox.segments() == [planted.name, *names]
    assert all(len(name) == len(planted.name) for name in names)
    assert [e["id"] for _, _, e in outbox.pending("t")] == ["e0", "e1", "e2"]


@pytest.mark.parametrize("number", [10**20 - 1, 2**63 - 1])
def test_a_segment_named_by_hand_past_our_numbers_is_passed_over(
    tmp_path: Path, number: int
) -> None:
    """A planted 99999999999999999999.jsonl (or 2**63-1, centuries ahead) is no segment of
    ours: it is neither read nor deleted, and the names after it stay 20 digits long, in
    order, and are read."""
    outbox = Outbox(tmp_path / "outbox")
    planted = tmp_path / "outbox" / "segments" / f"{number:020d}.jsonl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b'{"id": "planted", "type": "run_archived"}\n')
    names = [outbox.append([ev(1)]), outbox.append([ev(2)])]
    assert outbox.segments() == names == sorted(str(name) for name in names)
    assert [e["id"] for _, _, e in outbox.pending("t")] == ["e1", "e2"]
    outbox.save_cursor("t", Cursor(str(names[1]), 1))
    assert outbox.prune(["t"]) == 2
    assert planted.exists()


def test_pending_prune_and_counts(tmp_path: Path) -> None:
    """A segment is deleted only once every target passed it; the outbox then weighs nothing."""
    outbox = Outbox(tmp_path / "outbox")
    first = str(outbox.append([ev(1), ev(2)]))
    second = str(outbox.append([ev(3, "review_needed")]))
    assert [e["id"] for _, _, e in outbox.pending("a")] == ["e1", "e2", "e3"]
    outbox.save_cursor("a", Cursor(first, 2, delivered=2))
    assert outbox.prune(["a", "b"]) == 0  # b has not started
    outbox.save_cursor("b", Cursor(first, 1))
    assert outbox.prune(["a", "b"]) == 0
    outbox.save_cursor("b", Cursor(first, 2))
    assert outbox.prune(["a", "b"]) == 1
    assert outbox.segments() == [second]
    assert outbox.counts("a", lambda e: e["type"] == "review_needed") == {
        "pending": 1,
        "failed": 0,
        "delivered": 2,
    }
    outbox.save_cursor("a", Cursor(second, 1))
    outbox.save_cursor("b", Cursor(second, 1))
    assert outbox.prune(["a", "b"]) == 1
    assert outbox.size() == (0, 0)


def test_unreadable_cursor_starts_again_from_the_oldest(tmp_path: Path) -> None:
    """A torn cursor file means sending again (at least once), never skipping."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    outbox.save_cursor("a", Cursor("x", 5))
    (tmp_path / "outbox" / "cursors" / "a.json").write_bytes(b"{")
    assert outbox.cursor("a") == Cursor()
    assert [e["id"] for _, _, e in outbox.pending("a")] == ["e1"]


def test_failed_events_are_kept_with_their_error(tmp_path: Path) -> None:
    """keep_failed writes the event and the last error; failed() and counts() see it."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.keep_failed("a", "00000000000000000001.jsonl", 0, ev(1), error="HTTP 500", attempts=3)
    [record] = outbox.failed("a")
    assert (record["error"], record["attempts"], record["event"]["id"]) == ("HTTP 500", 3, "e1")
    assert outbox.counts("a", lambda e: True)["failed"] == 1
    with pytest.raises(ValueError, match="target name"):
        outbox.cursor("../x")


def test_emit_durably_writes_nothing_when_it_cannot_write_all(tmp_path: Path) -> None:
    """A full disk: one ArchiveError line, no segment; the next emit writes only its own."""
    outbox = Outbox(
        tmp_path / "outbox", disk=FaultyDisk(fail_at="write:*.jsonl:written", fail_times=1)
    )
    with pytest.raises(ArchiveError, match=r"cannot write events: .*No space left"):
        outbox.emit_durably([ev(1)])
    assert outbox.segments() == []
    outbox.emit_durably([ev(2)])
    [segment] = outbox.segments()
    assert [e["id"] for e in outbox.read_segment(segment)] == ["e2"]


def test_archiving_writes_the_runs_events_durably(tmp_path: Path) -> None:
    """With an outbox attached, each commit leaves its runs' events in one segment."""
    outbox = Outbox(tmp_path / "archive" / "outbox")
    manager = TrainingArchiveManager(tmp_path / "archive", outbox=outbox)
    run = manager.archive_training_run(make_summary("r", 3))
    [segment] = outbox.segments()
    assert outbox.read_segment(segment) == run_events(run)
    runs = manager.archive_training_runs([make_summary(f"g{i}") for i in range(3)])
    assert len(outbox.segments()) == 2  # one group, one segment
    again = manager.archive_training_run(make_summary("r", 3))
    assert again.duplicate
    assert len(outbox.segments()) == 2  # a duplicate emits nothing
    last = outbox.read_segment(outbox.segments()[-1])
    assert [e["data"]["run_id"] for e in last if e["type"] == "run_archived"] == [
        r.run_id for r in runs
    ]


def test_recovery_emits_again_the_events_of_a_run_the_index_missed(tmp_path: Path) -> None:
    """A run folder the catalog lacks (a crash before its events) gets them again, same ids."""
    archive = tmp_path / "archive"
    manager = TrainingArchiveManager(archive, outbox=Outbox(archive / "outbox"))
    run = manager.archive_training_run(make_summary("r", 3))
    for segment in Outbox(archive / "outbox").segments():
        os.unlink(archive / "outbox" / "segments" / segment)
    manager.close()
    with sqlite3.connect(archive / "catalog.sqlite3") as catalog:  # as if a crash came first
        catalog.execute("DELETE FROM runs")
        catalog.execute("DELETE FROM models")
    outbox = Outbox(archive / "outbox")
    fresh = TrainingArchiveManager(archive, outbox=outbox)
    assert fresh.recover() == 1
    [segment] = outbox.segments()
    assert [e["id"] for e in outbox.read_segment(segment)] == [e["id"] for e in run_events(run)]
    assert [r["timestamp"] for r in fresh.list_runs()] == [run.timestamp]


def _plant_fifo(path: Path) -> None:
    os.mkfifo(path)


def _plant_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _plant_nesting(path: Path) -> None:
    path.write_bytes(b"[" * 100_000 + b"\n")


def _plant_newlines(path: Path) -> None:
    path.write_bytes(b"\n" * (outbox_module._MAX_SEGMENT_LINES + 1))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("plant", [_plant_fifo, _plant_zero, _plant_nesting, _plant_newlines])
def test_a_planted_segment_never_hangs_or_stops_the_count(tmp_path: Path, plant: object) -> None:
    """A FIFO, a symlink to /dev/zero or 100,000-deep nesting named like a segment is passed
    over (its place kept), and the genuine events around it are still counted."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    planted = outbox.segments_dir / f"{int(outbox.segments()[0][:20]) + 1:020d}.jsonl"
    plant(planted)  # type: ignore[operator]
    outbox.append([ev(2)])
    assert len(outbox.segments()) == 3
    assert outbox.counts("hook", lambda event: event["type"] == "run_archived")["pending"] == 2
    sent = [event["id"] for _, _, event in outbox.pending("hook") if event["id"] is not None]
    assert sent == ["e1", "e2"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("breaks", "read"), [(b"\n", []), (b"\r", [{"id": None, "type": None}])])
def test_a_segment_of_more_lines_than_ours_is_not_read_into_memory(
    tmp_path: Path, breaks: bytes, read: list[dict[str, None]]
) -> None:
    """A planted segment of more line breaks than any of ours has lines (newlines: read as
    none; carriage returns, which no line of ours holds: one line that is no event) makes
    no object a line (at 256 MiB that was gigabytes), and once every target has passed
    it, it is deleted like any segment."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    planted = outbox.segments_dir / f"{int(outbox.segments()[0][:20]) + 1:020d}.jsonl"
    planted.write_bytes(breaks * (outbox_module._MAX_SEGMENT_LINES + 1))
    last = str(outbox.append([ev(2)]))
    tracemalloc.start()
    try:
        assert outbox.read_segment(planted.name) == read
        assert [e["id"] for _, _, e in outbox.pending("hook") if e["id"]] == ["e1", "e2"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # the file's bytes are read once, not kept
    outbox.save_cursor("hook", Cursor(last, 1))
    assert outbox.prune(["hook"]) == 3
    assert outbox.size() == (0, 0)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("plant", [_plant_fifo, _plant_zero, _plant_nesting])
def test_a_planted_cursor_or_failed_record_never_hangs_or_fills_memory(
    tmp_path: Path, plant: object
) -> None:
    """A FIFO, a symlink to /dev/zero or 100,000-deep nesting as a target's cursor or as a
    failed event's record: the target starts from the oldest segment, the record is passed
    over, pruning keeps what is not delivered (each read hung the service holding the
    writer lock, or grew its memory without bound)."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    outbox.cursors_dir.mkdir(parents=True)
    plant(outbox.cursors_dir / "hook.json")  # type: ignore[operator]
    assert outbox.cursor("hook") == Cursor()
    assert [event["id"] for _, _, event in outbox.pending("hook")] == ["e1"]
    assert outbox.prune(["hook"]) == 0
    (outbox.failed_dir / "hook").mkdir(parents=True)
    plant(outbox.failed_dir / "hook" / "00000000000000000001-000000.json")  # type: ignore[operator]
    assert outbox.failed("hook") == []
    kept = 1 if plant is _plant_nesting else 0  # a regular file is counted, never read
    assert outbox.counts("hook", lambda _event: True) == {
        "pending": 1, "failed": kept, "delivered": 0,
    }  # fmt: skip


def test_files_where_the_outbox_folders_belong_count_nothing(tmp_path: Path) -> None:
    """A file where the segments, cursors or a target's failed folder belongs: nothing is
    pending or failed, and nothing raises (/metrics answered 500)."""
    outbox = Outbox(tmp_path / "outbox")
    (tmp_path / "outbox").mkdir()
    for folder in (outbox.segments_dir, outbox.cursors_dir, outbox.failed_dir):
        folder.write_bytes(b"x")
    assert outbox.segments() == []
    assert outbox.targets() == []
    assert outbox.failed("hook") == []
    assert outbox.counts("hook", lambda _event: True) == {"pending": 0, "failed": 0, "delivered": 0}


def _broken(outbox_dir: Path) -> None:
    """Make the outbox unwritable: a file where its segments folder belongs."""
    (outbox_dir / "segments").rename(outbox_dir / "segments.kept")
    (outbox_dir / "segments").write_bytes(b"not a folder")


def _mended(outbox_dir: Path) -> None:
    """Put the segments folder back."""
    (outbox_dir / "segments").unlink()
    (outbox_dir / "segments.kept").rename(outbox_dir / "segments")


def test_nothing_is_archived_while_the_outbox_cannot_be_written(tmp_path: Path) -> None:
    """The outbox unwritable before a commit: one ArchiveError line, no run folder, nothing
    catalogued (before: the run was archived and its events kept in memory only, lost when
    a CLI exited); once it is mended the same summary is archived with its events."""
    archive = tmp_path / "archive"
    outbox = Outbox(archive / "outbox")
    manager = TrainingArchiveManager(archive, outbox=outbox)
    manager.archive_training_run(make_summary("first", 2))
    _broken(archive / "outbox")
    with pytest.raises(ArchiveError, match="outbox: cannot write events"):
        manager.archive_training_run(make_summary("second", 2))
    assert len([p for p in archive.iterdir() if p.name[:1].isdigit()]) == 1
    assert [r["run_id"] for r in manager.list_runs()] == ["first"]
    _mended(archive / "outbox")
    again = manager.archive_training_run(make_summary("second", 2))
    assert not again.duplicate
    assert [r["run_id"] for r in manager.list_runs()] == ["first", "second"]
    assert _archived_ids(outbox) == ["first", "second"]


def _archived_ids(outbox: Outbox) -> list[str]:
    return [
        e["data"]["run_id"]
        for name in outbox.segments()
        for e in outbox.read_segment(name)
        if e["type"] == "run_archived"
    ]


def test_events_that_fail_after_the_check_take_their_runs_back(tmp_path: Path) -> None:
    """The outbox failing between its check and the write (the disk filling up): the runs
    are taken back out of place and nothing is archived (one line); the same bytes again
    are archived with their events (a run never stands without them: a kill -9 then lost
    them for good)."""
    archive = tmp_path / "archive"
    outbox = Outbox(
        archive / "outbox", disk=FaultyDisk(fail_at="write:*.jsonl:written", fail_times=1)
    )
    manager = TrainingArchiveManager(archive, outbox=outbox)
    with pytest.raises(ArchiveError, match=r"nothing archived: the events of 1 run\(s\)"):
        manager.archive_training_run(make_summary("first", 2))
    assert manager.list_runs() == []
    assert [p.name for p in archive.iterdir() if p.name[:1].isdigit() or "staging" in p.name] == []
    assert outbox.segments() == []
    again = manager.archive_training_run(make_summary("first", 2))
    assert again.duplicate is False
    manager.archive_training_run(make_summary("second", 2))
    assert [r["run_id"] for r in manager.list_runs()] == ["first", "second"]
    assert _archived_ids(outbox) == ["first", "second"]
    manager.close()
    fresh = TrainingArchiveManager(archive, outbox=Outbox(archive / "outbox"))
    assert fresh.recover() == 0  # nothing was left for recovery to find
    fresh.close()


def test_recovery_writes_a_missing_runs_events_before_the_catalog_takes_it(
    tmp_path: Path,
) -> None:
    """A run the catalog lacks (a crash before its events) while the outbox is unwritable:
    recovery fails with one line and adds nothing; once mended it writes the events, then
    catalogs the run."""
    archive = tmp_path / "archive"
    manager = TrainingArchiveManager(archive, outbox=Outbox(archive / "outbox"))
    run = manager.archive_training_run(make_summary("r", 3))
    manager.close()
    for segment in Outbox(archive / "outbox").segments():
        os.unlink(archive / "outbox" / "segments" / segment)
    with sqlite3.connect(archive / "catalog.sqlite3") as catalog:  # as if a crash came first
        catalog.execute("DELETE FROM runs")
        catalog.execute("DELETE FROM models")
    _broken(archive / "outbox")
    broken = TrainingArchiveManager(archive, outbox=Outbox(archive / "outbox"))
    with pytest.raises(ArchiveError, match="cannot write events"):
        broken.recover()
    broken.close()
    _mended(archive / "outbox")
    outbox = Outbox(archive / "outbox")
    fresh = TrainingArchiveManager(archive, outbox=outbox)
    assert fresh.recover() == 1
    assert [r["timestamp"] for r in fresh.list_runs()] == [run.timestamp]
    assert _archived_ids(outbox) == ["r"]


def test_a_decision_whose_events_cannot_be_written_is_not_made(tmp_path: Path) -> None:
    """decide with the outbox unwritable: one ArchiveError line, no decision file, nothing
    in the audit; once the outbox is mended the same decision is made."""
    archive = tmp_path / "archive"
    manager = TrainingArchiveManager(archive, outbox=Outbox(archive / "outbox"))
    run = manager.archive_training_run(make_summary("r", 2))
    symbol = run.assessments[0].symbol
    _broken(archive / "outbox")
    with pytest.raises(ArchiveError, match="cannot write events"):
        manager.decide(run.timestamp, symbol, "DROP", by="ann", reason="checked", force=True)
    assert not list((archive / "decisions").glob("*.json"))
    assert manager.decisions(symbol) == []
    _mended(archive / "outbox")
    manager.decide(run.timestamp, symbol, "DROP", by="ann", reason="checked", force=True)
    assert len(manager.decisions(symbol)) == 1


class SecondWriteFails(Disk):
    """A disk whose second segment write (and each after) fails: ENOSPC."""

    def __init__(self) -> None:
        self.writes = 0

    def write(
        self, path: Path, data: bytes | Iterable[bytes], *, staged: bool = False, sync: bool = True
    ) -> None:
        """Count the write; fail from the second on."""
        self.writes += 1
        if self.writes >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        super().write(path, data, staged=staged, sync=sync)


def test_a_step_with_many_events_is_written_as_segments_that_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events past the segment size go to several segments, in order, each one read back
    (one 364 MiB segment was never read, and its 480,040 events were deleted unsent); a
    failure part-way adds none of them."""
    monkeypatch.setattr(outbox_module, "_SEGMENT_BYTES", 300)
    outbox = Outbox(tmp_path / "outbox")
    events = [{"id": f"e{n}", "type": "run_archived", "data": {"n": n}} for n in range(20)]
    outbox.append(events)
    assert len(outbox.segments()) > 3
    assert all((outbox.segments_dir / n).stat().st_size <= 300 for n in outbox.segments())
    assert [e for name, _, e in outbox.pending("t")] == events
    failing = Outbox(tmp_path / "failing", disk=SecondWriteFails())
    with pytest.raises(OSError, match="No space left"):
        failing.append(events)
    assert failing.segments() == []


@pytest.mark.parametrize("name", ["hook copy.json", ".json", "-x.json", "é.json", "hook\n.json"])
def test_a_cursor_file_no_target_is_named_for_is_passed_over(tmp_path: Path, name: str) -> None:
    """A file in cursors/ whose name is no target's (a file manager's copy) is not a
    target: events are still written (every emit was a ValueError, and the service died
    at each start)."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.append([ev(1)])
    outbox.save_cursor("hook", Cursor(outbox.segments()[0], 1, delivered=1))
    (outbox.cursors_dir / name).write_text((outbox.cursors_dir / "hook.json").read_text())
    assert outbox.targets() == ["hook"]
    outbox.append([ev(2)])
    assert [e["id"] for _, _, e in outbox.pending("hook")] == ["e2"]


def test_a_folder_named_like_a_segment_does_not_stop_pruning(tmp_path: Path) -> None:
    """A folder where a segment's name is passed over by prune: the segments after it are
    still deleted once passed (prune failed on it at each delivery, and the outbox never
    emptied); neither it nor a symlink so named counts in the outbox's size."""
    outbox = Outbox(tmp_path / "outbox")
    (outbox.segments_dir / "00000000000000000001.jsonl").mkdir(parents=True)
    last = str(outbox.append([ev(1)]))
    outbox.save_cursor("a", Cursor(last, 1, delivered=1))
    assert outbox.prune(["a"]) == 1
    assert outbox.segments() == ["00000000000000000001.jsonl"]
    (outbox.segments_dir / "00000000000000000002.jsonl").symlink_to("/etc/passwd")
    assert outbox.size() == (0, 0)  # neither the folder nor the symlink's target counted


def test_only_regular_files_are_counted_as_failed_events(tmp_path: Path) -> None:
    """notify status (and /metrics, at every scrape) counts the regular files kept aside,
    without reading them: a FIFO, a folder or a symlink named *.json is no failed event."""
    outbox = Outbox(tmp_path / "outbox")
    outbox.keep_failed("a", "00000000000000000001.jsonl", 0, ev(1), error="HTTP 500", attempts=3)
    folder = outbox.failed_dir / "a"
    os.mkfifo(folder / "fifo.json")
    (folder / "folder.json").mkdir()
    (folder / "link.json").symlink_to("/dev/zero")
    assert outbox.counts("a", lambda e: True)["failed"] == 1


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": 5, "type": "run_archived", "data": {}}',
        b'{"id": "", "type": "run_archived", "data": {}}',
        b'{"id": "abd", "type": "run_archived", "data": null}',
        b'{"id": "abd", "type": 7, "data": {}}',
        b"[1, 2]",
    ],
)
def test_a_planted_line_that_is_no_event_of_ours_is_not_sent(line: bytes) -> None:
    """A segment's line with an id that is no text, no type or no data is no event: it
    keeps its place, with no id, and is passed over (it was delivered)."""
    assert outbox_module.stored_event(line)["id"] is None
    assert outbox_module.stored_event(json.dumps(ev(1)).encode())["id"] == "e1"
