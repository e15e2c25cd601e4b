"""Tests for gating.archive.decisions: hostile decision files are skipped, seqs never collide."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError, TrainingArchiveManager
from gating.archive.decisions import write_decision
from gating.archive.disk import DISK
from gating.archive.layout import Layout
from gating.verdicts import MAX_SEQ, Decision
from tests.conftest import make_summary

Plant = Callable[[Path, dict[str, Any]], Path]


@pytest.fixture
def archive(tmp_path: Path) -> TrainingArchiveManager:
    """An archive of two runs (SYM0 APPROVED, SYM1 REVIEW, SYM2 DROP) and one decision."""
    manager = TrainingArchiveManager(tmp_path / "training_archives")
    manager.archive_training_run(make_summary("a"))
    manager.archive_training_run(make_summary("b"))
    first = manager.list_runs()[0]["timestamp"]
    manager.decide(first, "SYM1", "approve", by="ann", reason="ok")
    return manager


def _named(folder: Path, record: dict[str, Any]) -> Path:
    """Where a record would be stored were it a decision (its own name), else a plain name."""
    try:
        stamp = str(record["decided_at"]).replace("-", "").replace(":", "").replace(".", "")
        return folder / f"{stamp}-{int(record['seq']):06d}.json"
    except (KeyError, TypeError, ValueError):
        return folder / "20261201T000000000000Z-000099.json"


def _record(**changes: Any) -> Callable[[Path, dict[str, Any]], Path]:
    """A planter of the genuine decision's record with ``changes`` applied."""

    def plant(folder: Path, good: dict[str, Any]) -> Path:
        record = {**good, "seq": 2, **changes}
        path = _named(folder, record)
        path.write_text(json.dumps(record))
        return path

    return plant


def _fifo(folder: Path, good: dict[str, Any]) -> Path:
    path = folder / "20261201T000000000000Z-000002.json"
    os.mkfifo(path)
    return path


def _zero(folder: Path, good: dict[str, Any]) -> Path:
    path = folder / "20261201T000000000000Z-000002.json"
    path.symlink_to("/dev/zero")
    return path


def _oversize(folder: Path, good: dict[str, Any]) -> Path:
    path = _named(folder, {**good, "seq": 2})
    path.write_text(json.dumps({**good, "seq": 2, "pad": "x" * 2_000_000}))
    return path


def _raw(data: bytes) -> Plant:
    def plant(folder: Path, good: dict[str, Any]) -> Path:
        path = folder / "20261201T000000000000Z-000002.json"
        path.write_bytes(data)
        return path

    return plant


HOSTILE: dict[str, Plant] = {
    "a FIFO": _fifo,
    "a symlink to /dev/zero": _zero,
    "2 MB": _oversize,
    "a dict reason": _record(reason={"a": 1}),
    "seq 10**30": _record(seq=10**30),
    "seq 2**63-1": _record(seq=2**63 - 1),
    "seq 0": _record(seq=0),
    "seq true": _record(seq=True),
    "decided_at zzzz": _record(decided_at="zzzz"),
    "decided_at year 10000": _record(decided_at="9999-12-31T23:59:59-23:59"),
    "override yes": _record(override="yes"),
    "symbol 5": _record(symbol=5),
    "run_id 7": _record(run_id=7),
    "verdict REVIEW": _record(verdict="REVIEW"),
    "timestamp ../x": _record(timestamp="../x"),
    "no symbol": _record(symbol=None),
    "a list": _raw(b"[1, 2]"),
    "not JSON": _raw(b"\xff\xfe{"),
    "deep nesting": _raw(b"[" * 100_000),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("plant", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_decision_file_is_logged_and_skipped_by_start_decide_and_reindex(
    archive: TrainingArchiveManager, caplog: pytest.LogCaptureFixture, plant: Plant
) -> None:
    """A planted decision file never hangs or stops opening, deciding or reindexing: it is
    logged decision_damaged, skipped, and left where it is."""
    good = archive.decisions()[0].to_record()
    path = plant(archive.archive_dir / "decisions", good)
    archive.close()
    caplog.set_level(logging.WARNING, logger="gating.archive")
    done: list[object] = []

    def work() -> None:
        try:
            check()
        except BaseException as error:
            done.append(error)

    def check() -> None:
        fresh = TrainingArchiveManager(archive.archive_dir)
        fresh.recover()
        second = fresh.list_runs()[1]["timestamp"]
        made = fresh.decide(second, "SYM1", "drop", by="bob", reason="no")
        fresh.reindex()
        done.append(made.decided_at)
        assert [d.seq for d in fresh.decisions()] == [1, 2]
        assert fresh.get_deployable()["SYM1"].timestamp == fresh.list_runs()[0]["timestamp"]
        fresh.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(20)
    assert done, "opening, deciding or reindexing hung"
    assert isinstance(done[0], str), done[0]
    damaged = [
        getattr(r, "file", "") for r in caplog.records if r.getMessage() == "decision_damaged"
    ]
    assert str(path) in damaged
    assert os.path.lexists(path)


def test_a_reused_seq_keeps_both_decisions_and_queues_each_event_once(
    archive: TrainingArchiveManager,
) -> None:
    """Two decision files with one seq (copied back, or restored) are both audited after a
    reindex, in name order, and a writer indexing them queues their events once."""
    from gating import Outbox

    layout = Layout(archive.archive_dir)
    first = archive.decisions()[0]
    second_run = archive.list_runs()[1]["timestamp"]
    twin = dataclasses.replace(
        first,
        timestamp=second_run,
        decided_at=first.decided_at.replace(
            first.decided_at[:4], str(int(first.decided_at[:4]) - 1)
        ),
        events=(),
    )
    assert twin.seq == first.seq
    assert twin.name != first.name
    write_decision(layout, twin, DISK)
    archive.close()
    for _ in range(3):  # three writers in turn: the twin is indexed by the first
        outbox = Outbox(archive.archive_dir / "outbox")
        writer = TrainingArchiveManager(archive.archive_dir, outbox=outbox)
        writer.recover()
        writer.close()
    fresh = TrainingArchiveManager(archive.archive_dir)
    fresh.reindex()
    audited = fresh.decisions()
    assert {d.name for d in audited} == {first.name, twin.name}
    assert audited == sorted(audited, key=lambda d: (d.seq, d.name))
    assert fresh.get_symbol_history("SYM1")[-1]["verdict"] == "APPROVED"
    outbox = Outbox(archive.archive_dir / "outbox")
    sent = [event for name in outbox.segments() for event in outbox.read_segment(name)]
    assert len({e["id"] for e in sent}) == len(sent) >= 1
    fresh.close()


def test_a_decision_record_survives_a_round_trip_and_a_reused_seq_orders_by_name() -> None:
    """from_record reads back what to_record wrote; names break a tie between equal seqs."""
    from gating.archive.decisions import order

    a = Decision(3, "20260101T000000Z", "S", "APPROVED", "REVIEW", "REVIEW", False, "a", "r",
                 "2026-01-02T00:00:00.000000Z")  # fmt: skip
    b = dataclasses.replace(a, decided_at="2025-01-02T00:00:00.000000Z")
    assert Decision.from_record(a.to_record()) == a
    assert sorted([a, b], key=order) == [b, a]


def test_a_decision_file_with_the_largest_seq_stops_deciding_with_one_line(
    archive: TrainingArchiveManager,
) -> None:
    """A decision file planted with the largest sequence number: the next decide is one
    ArchiveError naming it and writes nothing (it wrote seq 10**12, which no reader takes:
    that decision vanished from audit at the next reindex, and every later one failed)."""
    layout = Layout(archive.archive_dir)
    first = archive.decisions()[0]
    last = dataclasses.replace(
        first, seq=MAX_SEQ, decided_at=first.decided_at.replace(first.decided_at[:4], "2000")
    )
    write_decision(layout, last, DISK)
    archive.recover()
    before = sorted(layout.decisions.iterdir())
    second_run = archive.list_runs()[1]["timestamp"]
    with pytest.raises(ArchiveError, match=f"sequence number {MAX_SEQ}, the largest"):
        archive.decide(second_run, "SYM1", "approve", by="ann", reason="ok")
    assert sorted(layout.decisions.iterdir()) == before
    assert {d.seq for d in archive.decisions()} == {first.seq, MAX_SEQ}


@pytest.mark.parametrize("seq", ["'abc'", "1e300", "-5"])
def test_a_decision_row_edited_in_the_catalog_is_rebuilt_before_deciding(
    archive: TrainingArchiveManager, seq: str
) -> None:
    """The newest decision's row in the catalog edited by hand: the next decide rebuilds
    the catalog from decisions/ and numbers its decision after the files' (it was a
    ValueError traceback, or blamed a decision file for a number no file holds)."""
    archive.close()
    with contextlib.closing(sqlite3.connect(archive.catalog_path)) as connection:
        connection.execute(f"UPDATE decisions SET seq = {seq}")
        connection.commit()
    reopened = TrainingArchiveManager(archive.archive_dir)
    second_run = reopened.list_runs()[1]["timestamp"]
    made = reopened.decide(second_run, "SYM1", "approve", by="ann", reason="ok")
    assert made.seq == 2
    assert [d.seq for d in reopened.decisions()] == [1, 2]
    reopened.close()
