"""Tests for decisions on the archive: review queue, decide, champions, the audit trail."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gating import (
    AmbiguousTimestampError,
    ArchiveBusyError,
    ArchiveError,
    DecisionError,
    ModelGatingConfig,
    Outbox,
    RunNotFoundError,
    SymbolNotFoundError,
    TimeFormatError,
    TrainingArchiveManager,
)
from gating.archive.disk import DISK
from gating.archive.layout import ts_from_micros, ts_micros
from gating.verdicts import micros_from_iso
from tests.conftest import make_model, make_summary
from tests.faulty_disk import FaultyDisk

GRADES = {
    "APPROVED": make_model(),
    "REVIEW": make_model(0.6, 1.5, 0.7, 0.1, [0.5, 0.55, 0.6]),
    "DROP": make_model(0.3, 1.0, 0.5, 0.2, [0.4, 0.3]),
}


@pytest.fixture
def archive(tmp_path: Path) -> TrainingArchiveManager:
    """An archive with two runs of SYM0 (APPROVED), SYM1 (REVIEW), SYM2 (DROP)."""
    manager = TrainingArchiveManager(tmp_path / "training_archives")
    manager.archive_training_run(make_summary("a"))
    manager.archive_training_run(make_summary("b"))
    return manager


def stamps(archive: TrainingArchiveManager) -> list[str]:
    """The runs' timestamps, oldest first."""
    return [run["timestamp"] for run in archive.list_runs()]


def decision_files(root: Path) -> list[Path]:
    """Every file in decisions/, temp files included."""
    folder = root / "decisions"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_review_model_is_found_decided_and_becomes_champion(
    archive: TrainingArchiveManager,
) -> None:
    """The queue lists both REVIEW models with reasons; approving one makes it the champion."""
    first, second = stamps(archive)
    queue = archive.pending_reviews()
    assert archive.review.pending_count() == len(queue) == 2
    assert [(p.timestamp, p.symbol) for p in queue] == [(second, "SYM1"), (first, "SYM1")]
    assert queue[0].reasons[-1] == "max_drawdown 0.10 > 0.08"
    assert queue[0].as_document()["classification"] == "REVIEW"
    assert set(archive.get_deployable()) == {"SYM0"}

    decision = archive.decide(second[:-3], "SYM1", "approve", by="ann", reason="stress test ok")
    assert (decision.seq, decision.verdict, decision.previous, decision.override) == (
        1, "APPROVED", "REVIEW", False,
    )  # fmt: skip
    assert [e["type"] for e in decision.events] == ["model_approved", "champion_changed"]
    path = archive.archive_dir / "decisions" / f"{decision.name}.json"
    assert json.loads(path.read_text("utf-8"))["reason"] == "stress test ok"

    assert [(p.timestamp, p.symbol) for p in archive.pending_reviews()] == [(first, "SYM1")]
    assert archive.review.pending_count() == 1
    champion = archive.get_deployable()["SYM1"]
    assert champion.as_document() == {
        "timestamp": second, "run_id": "b", "verdict_by": "ann", "reason": "stress test ok",
        "fitness": 0.6, "profit_factor": 1.5, "consistency": 0.7, "max_drawdown": 0.1,
        "use_checkpoint": False, "checkpoint_step": None,
    }  # fmt: skip
    assert archive.get_approved_models() == ["SYM0", "SYM1"]
    assert archive.get_approved_models(first) == ["SYM0"]
    history = archive.get_symbol_history("SYM1")
    assert [h["verdict"] for h in history] == ["REVIEW", "APPROVED"]
    assert history[0]["decision"] is None
    assert history[1]["decision"] == decision.as_audit()
    assert archive.decisions() == [decision] == archive.decisions("SYM1")
    assert archive.decisions("SYM0") == []
    assert archive.decisions(timestamp=second) == [decision]
    assert archive.decisions("SYM1", timestamp=first) == archive.decisions(timestamp=first) == []
    assert archive.review.get_champion("SYM1") == archive.get_deployable()["SYM1"] == champion
    assert archive.review.get_champion("NONE") is None


def test_a_later_decision_replaces_the_verdict_and_both_stay_audited(
    archive: TrainingArchiveManager,
) -> None:
    """Approve then drop: the verdict is DROP, the champion falls back, the trail keeps both."""
    first, second = stamps(archive)
    archive.decide(second, "SYM1", "approve", by="ann", reason="ok")
    dropped = archive.decide(second, "SYM1", "drop", by="bob", reason="leaks future data")
    assert dropped.previous == "APPROVED"
    assert [e["type"] for e in dropped.events] == ["model_dropped", "champion_changed"]
    assert dropped.events[-1]["data"]["champion"] is None
    assert dropped.events[-1]["data"]["previous"]["timestamp"] == second
    assert "SYM1" not in archive.get_deployable()
    overridden = archive.decide(second, "SYM0", "drop", by="bob", reason="bad fill", force=True)
    assert overridden.override is True
    assert archive.get_deployable()["SYM0"].timestamp == first
    audit = [(d.symbol, d.verdict, d.previous, d.by) for d in archive.decisions()]
    assert audit == [
        ("SYM1", "APPROVED", "REVIEW", "ann"),
        ("SYM1", "DROP", "APPROVED", "bob"),
        ("SYM0", "DROP", "APPROVED", "bob"),
    ]
    assert archive.get_approved_models() == []


@pytest.mark.parametrize(
    ("timestamp", "symbol", "verdict", "reason", "force", "error", "message"),
    [
        ("20000101T000000000000Z", "SYM1", "approve", "ok", False, RunNotFoundError, "no archived"),
        ("1999", "SYM1", "approve", "ok", False, RunNotFoundError, "starting with '1999'"),
        ("latest", "NOPE", "approve", "ok", False, SymbolNotFoundError, "'NOPE'"),
        ("latest", "SYM1", "approve", " ", False, DecisionError, "reason"),
        ("latest", "SYM1", "approve", "x" * 10_001, False, DecisionError, "at most 10000"),
        ("latest", "SYM1", "keep", "ok", False, DecisionError, "'keep' is not approve or drop"),
        ("latest", "SYM2", "approve", "ok", False, DecisionError, "overrides"),
        ("latest", "SYM0", "drop", "ok", False, DecisionError, "overrides"),
        ("2", "SYM1", "approve", "ok", False, AmbiguousTimestampError, "matches several runs"),
        ("latest", "SYM1", "approve", "a\udcff", False, DecisionError, "reason: .* lone surrogate"),
        ("latest", "S\ud800", "approve", "ok", False, DecisionError, "symbol: .* lone surrogate"),
        ("latest", "SYM1", "approve", "a\x00b", False, DecisionError, "reason: .* holds a NUL"),
        (5, "SYM1", "approve", "ok", False, DecisionError, "timestamp: 5 is not text"),
        ("latest", "SYM0", "drop", "ok", "false", DecisionError, "force: 'false' is not True"),
    ],
)
def test_bad_decisions_write_nothing(
    archive: TrainingArchiveManager,
    timestamp: str,
    symbol: str,
    verdict: str,
    reason: str,
    force: bool,
    error: type[Exception],
    message: str,
) -> None:
    """Each refusal raises its error class and leaves decisions/ and every verdict alone."""
    with pytest.raises(error, match=message):
        archive.decide(timestamp, symbol, verdict, by="ann", reason=reason, force=force)
    assert decision_files(archive.archive_dir) == []
    assert archive.decisions() == []
    assert archive.get_approved_models() == ["SYM0"]


def test_error_classes() -> None:
    """Unknown symbol is a KeyError, a refused decision and an ambiguous prefix ValueErrors."""
    assert issubclass(SymbolNotFoundError, KeyError)
    assert issubclass(DecisionError, ValueError)
    assert issubclass(AmbiguousTimestampError, ValueError)
    assert str(SymbolNotFoundError("run x did not gate symbol 'A'")) == (
        "run x did not gate symbol 'A'"
    )


def test_timestamp_prefixes(archive: TrainingArchiveManager) -> None:
    """A unique prefix or latest names a run; an ambiguous prefix lists the candidates."""
    first, second = stamps(archive)
    assert archive.reader.resolve_timestamp("latest") == second
    assert archive.reader.resolve_timestamp(first) == first
    common = next(first[:i] for i in range(len(first)) if first[i] != second[i])
    assert archive.reader.resolve_timestamp(second[: len(common) + 1]) == second
    with pytest.raises(AmbiguousTimestampError) as caught:
        archive.reader.resolve_timestamp(common)
    assert first in str(caught.value)
    assert second in str(caught.value)
    for text in ("x", "2%", "' OR 1"):
        with pytest.raises(RunNotFoundError):
            archive.reader.resolve_timestamp(text)
    with pytest.raises(TimeFormatError, match="a run is named by its timestamp"):
        archive.reader.resolve_timestamp(" ")  # every run's prefix (it said none has it)
    # A TIME of a few digits is no ISO time but a prefix of runs: so it is taken (it was
    # told it was not a prefix of one).
    with pytest.raises(AmbiguousTimestampError, match=f"'{first[:4]}' matches several runs"):
        archive.get_deployable(at=first[:4])
    assert archive.get_deployable(at=second[:-2]) == archive.get_deployable(at=second)
    for wrong in (5, b"20261126", ["latest"]):  # an AttributeError from deep inside before
        with pytest.raises(TypeError, match="a TIME is a str or a datetime, not"):
            archive.get_deployable(at=wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="regate takes a ModelGatingConfig, not NoneType"):
        archive.regate(None)  # type: ignore[arg-type]


def test_decisions_survive_reindex_compact_restart_and_a_lost_catalog(
    archive: TrainingArchiveManager,
) -> None:
    """Decisions are primary data: reindex, compact, a new process and a rebuild keep them."""
    second = stamps(archive)[1]
    archive.decide(second, "SYM1", "approve", by="ann", reason="ok")
    archive.decide(second, "SYM0", "drop", by="bob", reason="no", force=True)
    expected = (archive.decisions(), archive.get_deployable(), archive.get_symbol_history("SYM1"))
    files = [p.read_bytes() for p in decision_files(archive.archive_dir)]
    archive.compact()
    archive.reindex()
    assert (archive.decisions(), archive.get_deployable()) == expected[:2]
    archive.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{archive.catalog_path}{suffix}").unlink(missing_ok=True)
    fresh = TrainingArchiveManager(archive.archive_dir)
    assert (fresh.decisions(), fresh.get_deployable()) == expected[:2]
    assert fresh.get_symbol_history("SYM1") == expected[2]
    assert [p.read_bytes() for p in decision_files(archive.archive_dir)] == files
    assert fresh.decide(second, "SYM1", "drop", by="cy", reason="again").seq == 3


def test_decide_takes_the_writer_lock(archive: TrainingArchiveManager) -> None:
    """While another process holds the writer lock, decide waits, then gives up busy."""
    archive.recover()
    fd = os.open(archive.archive_dir / ".lock", os.O_RDWR)
    holder = TrainingArchiveManager(archive.archive_dir, lock_timeout=0.05)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ArchiveBusyError):
            holder.decide("latest", "SYM1", "approve", by="ann", reason="ok")
    finally:
        os.close(fd)
    assert decision_files(archive.archive_dir) == []


def test_disk_full_while_writing_a_decision_leaves_nothing(
    archive: TrainingArchiveManager,
) -> None:
    """ENOSPC inside the durable write: an error, no file, no temp, no verdict change."""
    faulty = TrainingArchiveManager(
        archive.archive_dir, disk=FaultyDisk(fail_at="write:*-000001.json:written")
    )
    with pytest.raises(ArchiveError, match="No space left"):
        faulty.decide("latest", "SYM1", "approve", by="ann", reason="ok")
    assert decision_files(archive.archive_dir) == []
    assert archive.decisions() == []
    assert archive.decide("latest", "SYM1", "approve", by="ann", reason="ok").seq == 1


def test_a_decision_the_catalog_cannot_take_is_kept_and_says_so(
    archive: TrainingArchiveManager,
) -> None:
    """The catalog full after the file: the decision is made, says it is not listed yet,
    and the next writer lists it."""
    faulty = TrainingArchiveManager(
        archive.archive_dir, disk=FaultyDisk(fail_at="decision:emitted")
    )
    made = faulty.decide("latest", "SYM1", "drop", by="ann", reason="no")
    assert made.unindexed is not None
    assert "No space left" in made.unindexed
    assert "could not take it yet" in made.unindexed
    assert len(decision_files(archive.archive_dir)) == 1
    assert archive.decide("latest", "SYM2", "drop", by="ann", reason="no").unindexed is None
    assert [(d.symbol, d.seq) for d in archive.decisions()] == [("SYM1", 1), ("SYM2", 2)]


def test_a_run_record_that_cannot_be_read_now_makes_no_decision_without_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file handles left for the run's record while deciding (notifications on): one
    error line and no decision (it was made without its events: never notified)."""
    from gating.archive import catalog as catalog_module
    from gating.archive import durable
    from gating.archive.outbox import Outbox

    archive = TrainingArchiveManager(tmp_path / "a", outbox=Outbox(tmp_path / "a" / "outbox"))
    archive.archive_training_run(make_summary("r", 3))

    def no_handles(path: Path, max_bytes: int) -> bytes:
        if Path(path).name == "model_assessments.json":
            raise OSError(errno.EMFILE, "Too many open files", str(path))
        return durable.read_regular(path, max_bytes)

    monkeypatch.setattr(catalog_module, "read_regular", no_handles)
    with pytest.raises(ArchiveError, match="cannot be read now \\(Too many open files\\)"):
        archive.decide("latest", "SYM1", "drop", by="ann", reason="no")
    assert decision_files(archive.archive_dir) == []


_CRASH_SCRIPT = """
import sys
from gating import TrainingArchiveManager
from tests.faulty_disk import FaultyDisk
archive = TrainingArchiveManager(sys.argv[1], disk=FaultyDisk(crash_at=sys.argv[2]))
archive.decide("latest", "SYM1", "approve", by="ann", reason="crash test")
"""

# (point, whether the decision is on disk once the process died there)
DECISION_CRASH_POINTS = [
    ("decision:checked", False),
    ("write:*-000002.json:written", False),
    ("write:*-000002.json:synced", False),
    ("write:*-000002.json:renamed", True),
    ("decision:written", True),
    ("decision:emitted", True),
    ("decision:indexed", True),
]


@pytest.mark.parametrize(("point", "kept"), DECISION_CRASH_POINTS)
def test_crash_at_any_point_leaves_a_decision_whole_or_absent(
    archive: TrainingArchiveManager, point: str, kept: bool
) -> None:
    """A process killed at each step of a decision: whole or absent, and recovery indexes it."""
    first = stamps(archive)[0]
    archive.decide(first, "SYM1", "approve", by="ann", reason="before")
    root = archive.archive_dir
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(root), point],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 86, done.stderr
    whole = [p for p in decision_files(root) if not p.name.startswith(".")]
    assert len(whole) == (2 if kept else 1)
    for path in whole:
        assert json.loads(path.read_text("utf-8"))["by"] == "ann"
    fresh = TrainingArchiveManager(root)
    fresh.recover()  # the service does this at start; every writer before its first write
    assert [p.name for p in decision_files(root)] == [p.name for p in whole]  # no temp left
    assert [d.reason for d in fresh.decisions()] == ["before", "crash test"][: len(whole)]
    assert fresh.get_symbol_history("SYM1")[1]["verdict"] == ("APPROVED" if kept else "REVIEW")
    assert fresh.decide("latest", "SYM1", "drop", by="bob", reason="after").seq == len(whole) + 1


# --- the deployable set as it stood at any time, against a brute-force fold -------------

symbols = st.sampled_from(["A", "B", "C"])
run_ops = st.dictionaries(symbols, st.sampled_from(sorted(GRADES)), min_size=1).map(
    lambda models: ("run", models)
)
decide_ops = st.tuples(
    st.just("decide"), st.integers(0, 20), symbols, st.sampled_from(["approve", "drop"])
)


def brute_force(
    runs: list[tuple[str, dict[str, str]]], decisions: list[Any], at: int
) -> dict[str, tuple[str, str]]:
    """Each symbol's (champion timestamp, verdict_by): fold every run and decision up to ``at``."""
    verdicts: dict[tuple[str, str], tuple[str, str]] = {}
    for timestamp, models in runs:
        if ts_micros(timestamp) <= at:
            for symbol, grade in models.items():
                verdicts[timestamp, symbol] = (grade, "gate")
    for d in sorted(decisions, key=lambda d: d.seq):
        if micros_from_iso(d.decided_at) <= at and (d.timestamp, d.symbol) in verdicts:
            verdicts[d.timestamp, d.symbol] = (d.verdict, d.by)
    champions: dict[str, tuple[str, str]] = {}
    for (timestamp, symbol), (verdict, by) in sorted(verdicts.items()):
        if verdict == "APPROVED":
            champions[symbol] = (timestamp, by)
    return champions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(run_ops, decide_ops), min_size=1, max_size=10))
def test_deployable_at_any_time_is_the_fold_of_runs_and_decisions_up_to_it(
    operations: list[Any],
) -> None:
    """get_deployable(at=T) equals a brute-force fold of the runs and decisions up to T."""
    root = Path(tempfile.mkdtemp(prefix="gatewatch-deployable-"))
    try:
        archive = TrainingArchiveManager(root / "a", durable=False, auto_compact=False)
        runs: list[tuple[str, dict[str, str]]] = []
        for number, operation in enumerate(operations):
            if operation[0] == "run":
                summary = {"run_id": f"r{number}",
                           "models": {s: GRADES[g] for s, g in operation[1].items()}}  # fmt: skip
                runs.append((archive.archive_training_run(summary).timestamp, operation[1]))
            elif runs:
                _, which, symbol, verdict = operation
                timestamp, models = runs[which % len(runs)]
                if symbol in models:
                    by = f"p{number}"
                    archive.decide(timestamp, symbol, verdict, by=by, reason="r", force=True)
        decisions = archive.decisions()
        moments = {ts_micros(t) + delta for t, _ in runs for delta in (-1, 0, 1)}
        moments |= {micros_from_iso(d.decided_at) + delta for d in decisions for delta in (-1, 0)}
        for at in sorted(moments):
            found = archive.get_deployable(at=ts_from_micros(at))
            got = {symbol: (c.timestamp, c.verdict_by) for symbol, c in found.items()}
            assert got == brute_force(runs, decisions, at), at
        now = {
            symbol: (c.timestamp, c.verdict_by) for symbol, c in archive.get_deployable().items()
        }
        assert now == brute_force(runs, decisions, 2**62)
        archive.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- notification events -----------------------------------------------------------------


def outbox_events(archive: TrainingArchiveManager) -> list[dict[str, Any]]:
    """Every event in the archive's outbox, oldest first."""
    outbox = Outbox(archive.archive_dir / "outbox")
    return [event for name in outbox.segments() for event in outbox.read_segment(name)]


def test_a_decision_writes_its_events_to_the_outbox(archive: TrainingArchiveManager) -> None:
    """decide returns its events and writes them to the outbox before it returns."""
    archive = TrainingArchiveManager(
        archive.archive_dir, outbox=Outbox(archive.archive_dir / "outbox")
    )
    decision = archive.decide("latest", "SYM1", "approve", by="ann", reason="ok")
    events = outbox_events(archive)
    assert events == list(decision.events)
    assert [e["type"] for e in events] == ["model_approved", "champion_changed"]
    approved = events[0]["data"]
    assert (approved["symbol"], approved["by"], approved["reason"]) == ("SYM1", "ann", "ok")
    assert approved["reasons"][0] == "fitness 0.60 < 0.70"
    assert events[1]["data"]["champion"] == decision.timestamp
    again = archive.decide("latest", "SYM1", "approve", by="bob", reason="still ok")
    assert again.events == ()  # already APPROVED and already the champion: nothing happened


_CRASH_WITH_OUTBOX = """
import sys
from pathlib import Path
from gating import Outbox, TrainingArchiveManager
from tests.faulty_disk import FaultyDisk
disk = FaultyDisk(crash_at=sys.argv[2])
outbox = Outbox(Path(sys.argv[1]) / "outbox", disk=disk)
archive = TrainingArchiveManager(sys.argv[1], disk=disk, outbox=outbox)
archive.decide("latest", "SYM1", "approve", by="ann", reason="crash test")
"""


@pytest.mark.parametrize("point", ["decision:written", "decision:emitted"])
def test_recovery_emits_the_events_of_a_decision_a_crash_left_unindexed(
    archive: TrainingArchiveManager, point: str
) -> None:
    """A decision on disk but not indexed: recovery emits its events (same ids), then indexes it."""
    root = archive.archive_dir
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_WITH_OUTBOX, str(root), point],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 86, done.stderr
    fresh = TrainingArchiveManager(root, outbox=Outbox(root / "outbox"))
    fresh.recover()
    events = outbox_events(fresh)
    assert [e["type"] for e in events] == ["model_approved", "champion_changed"] * (
        2 if point == "decision:emitted" else 1
    )
    assert len({e["id"] for e in events}) == 2
    assert [d.reason for d in fresh.decisions()] == ["crash test"]


def test_the_queue_explains_each_run_under_its_own_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reasons use the bounds each run was gated under, from the catalog, not its record."""
    strict = ModelGatingConfig(approved_max_drawdown=0.05)
    TrainingArchiveManager(tmp_path / "a", strict).archive_training_run(make_summary("s"))
    archive = TrainingArchiveManager(tmp_path / "a")
    archive.archive_training_run(make_summary("d"))
    default, strict_sym1 = (
        ["fitness 0.60 < 0.70", "profit_factor 1.50 < 1.80", "consistency 0.70 < 0.85",
         f"max_drawdown 0.10 > {bound}"]
        for bound in ("0.08", "0.05")
    )  # fmt: skip
    expected = [default, ["max_drawdown 0.06 > 0.05"], strict_sym1]  # SYM0 is REVIEW there

    def unread(*_: object) -> None:
        raise AssertionError("a run's record was read")

    with monkeypatch.context() as patched:
        patched.setattr("gating.archive.decisions._run_reasons", unread)
        assert [list(p.reasons) for p in archive.pending_reviews()] == expected
    with sqlite3.connect(archive.catalog_path) as connection:  # a catalog without the bounds
        connection.execute("DELETE FROM run_bounds")
    assert [list(p.reasons) for p in archive.pending_reviews()] == expected
    history = archive.get_symbol_history("SYM1")
    assert [archive.review.model_reasons(h["timestamp"], "SYM1", h) for h in history] == [
        strict_sym1,
        default,
    ]


@pytest.mark.parametrize("hostile_at", ["2100-01-01T00:00:00.000000Z", "zzzz"])
def test_a_decision_from_the_future_does_not_backdate_the_next(
    archive: TrainingArchiveManager, hostile_at: str
) -> None:
    """A decision file dated 2100 (or no date): the next decision is stamped now, and
    `deployable --at now` sees it."""
    import dataclasses
    from datetime import UTC, datetime

    from gating.archive.decisions import write_decision
    from gating.archive.layout import Layout

    first, second = stamps(archive)
    made = archive.decide(first, "SYM1", "approve", by="ann", reason="ok")
    forged = dataclasses.replace(made, seq=made.seq + 1, decided_at=hostile_at, events=())
    write_decision(Layout(archive.archive_dir), forged, DISK)
    archive.reindex()
    dropped = archive.decide(second, "SYM0", "drop", by="bob", reason="regime change", force=True)
    assert dropped.decided_at[:4] == str(datetime.now(UTC).year)
    assert archive.get_deployable(at=datetime.now(UTC))["SYM0"].timestamp == first
