"""TrainingArchiveManager.regate: what if the thresholds were different? Nothing is written."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gating import (
    ArchiveError,
    ModelGatingConfig,
    RunNotFoundError,
    TimeFormatError,
    TrainingArchiveManager,
)
from gating.archive import regate as regate_module
from gating.archive.layout import Layout, ts_from_micros, ts_micros
from gating.regate import RunOutcome
from tests.process import wait_until

TABLE = ModelGatingConfig(champion_tolerances={"fitness": 0.02})


def summary(run_id: str, fitness: float, consistency: float = 0.88) -> dict[str, Any]:
    """A one-model summary (AAPL) with the given fitness and consistency."""
    model = {"fitness": fitness, "pf": 1.9, "consistency": consistency, "max_dd": 0.06}
    return {"run_id": run_id, "models": {"AAPL": model}}


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the archive with its sha256 (the catalog's WAL files left out)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "catalog" not in path.name and path.name != ".lock"
    }


@pytest.fixture
def archive(tmp_path: Path) -> TrainingArchiveManager:
    """An archive made without a champion table, as every archive before issue 13 was."""
    return TrainingArchiveManager(tmp_path / "archive", durable=False)


def test_the_same_config_changes_nothing(archive: TrainingArchiveManager) -> None:
    """Under its own thresholds every run gates as it did."""
    archive.archive_training_runs([summary("a", 0.9), summary("b", 0.6), summary("c", 0.4)])
    report = archive.regate(ModelGatingConfig())
    assert (report.runs, report.models, report.changes) == (3, 3, [])
    assert report.now == report.other == {"APPROVED": 1, "REVIEW": 1, "DROP": 1}


def test_other_thresholds_list_each_change_and_write_nothing(
    archive: TrainingArchiveManager,
) -> None:
    """Stricter and looser bounds: counts now and under OTHER, each change with why."""
    runs = archive.archive_training_runs(
        [summary("a", 0.75), summary("b", 0.9, consistency=0.82), summary("c", 0.9)]
    )
    before = snapshot(archive.archive_dir)
    other = ModelGatingConfig(approved_min_fitness=0.8, approved_min_consistency=0.80)
    report = archive.regate(other)
    assert snapshot(archive.archive_dir) == before
    assert report.now == {"APPROVED": 2, "REVIEW": 1, "DROP": 0}
    assert report.other == {"APPROVED": 2, "REVIEW": 1, "DROP": 0}
    assert [c.as_document() for c in report.changes] == [
        {"timestamp": runs[0].timestamp, "run_id": "a", "symbol": "AAPL", "from": "APPROVED",
         "to": "REVIEW", "why": "fitness 0.75 < 0.80", "verdict": None, "decided_by": None},
        {"timestamp": runs[1].timestamp, "run_id": "b", "symbol": "AAPL", "from": "REVIEW",
         "to": "APPROVED", "why": "was: consistency 0.82 < 0.85", "verdict": None,
         "decided_by": None},
    ]  # fmt: skip


def test_a_champion_table_compares_as_the_regating_goes(archive: TrainingArchiveManager) -> None:
    """Under OTHER's table, each run meets the champion it would have had then."""
    runs = archive.archive_training_runs(
        [summary("a", 0.90), summary("b", 0.85), summary("c", 0.882), summary("d", 0.87)]
    )
    report = archive.regate(TABLE)
    (change,) = report.changes
    assert (change.timestamp, change.before, change.after) == (
        runs[1].timestamp,
        "APPROVED",
        "REVIEW",
    )
    assert change.why == (
        f"fitness 0.85 is 5.6% below the champion's 0.90 from {runs[0].timestamp} (at most 2%)"
    )
    assert report.other == {"APPROVED": 3, "REVIEW": 1, "DROP": 0}


def test_records_with_champion_data_regate_back(tmp_path: Path) -> None:
    """An archive gated with a table, re-gated without one: BELOW_CHAMPION models come back."""
    archive = TrainingArchiveManager(tmp_path / "archive", TABLE, durable=False)
    runs = archive.archive_training_runs([summary("a", 0.90), summary("b", 0.85)])
    (change,) = archive.regate(ModelGatingConfig()).changes
    assert (change.timestamp, change.before, change.after) == (
        runs[1].timestamp,
        "REVIEW",
        "APPROVED",
    )
    assert change.why.startswith("was: fitness 0.85 is 5.6% below the champion's 0.90")
    assert archive.regate(TABLE).changes == []


def test_decisions_stay_as_made_and_steer_the_champions(archive: TrainingArchiveManager) -> None:
    """A champion dropped by a person before the next run is no champion for it."""
    first = archive.archive_training_run(summary("a", 0.90))
    archive.decide(first.timestamp, "AAPL", "drop", by="ann", reason="leak", force=True)
    archive.archive_training_run(summary("b", 0.80))
    assert archive.regate(TABLE).changes == []  # b had no champion: a was dropped


def test_a_change_reports_the_verdict(archive: TrainingArchiveManager) -> None:
    """A decided model that would change class says who decided what; the decision stands."""
    runs = archive.archive_training_runs([summary("a", 0.90), summary("b", 0.85)])
    archive.decide(runs[1].timestamp, "AAPL", "approve", by="ann", reason="fine")
    (change,) = archive.regate(TABLE).changes
    assert (change.after, change.verdict, change.decided_by) == ("REVIEW", "APPROVED", "ann")
    assert len(archive.decisions()) == 1
    assert archive.get_approved_models(runs[1].timestamp) == ["AAPL"]


def test_since_starts_from_the_champions_as_they_stood(archive: TrainingArchiveManager) -> None:
    """--since re-gates the runs from then on, against the champion of the runs before."""
    runs = archive.archive_training_runs([summary("a", 0.90), summary("b", 0.85)])
    report = archive.regate(TABLE, since=runs[1].timestamp)
    assert (report.since, report.runs) == (runs[1].timestamp, 1)
    (change,) = report.changes
    assert runs[0].timestamp in change.why
    assert archive.regate(TABLE, since=runs[1].timestamp[:-1]).runs == 1  # a unique prefix
    assert archive.regate(TABLE, since="2000-01-01T00:00:00Z").runs == 2  # an ISO time
    assert archive.regate(TABLE, since="latest").runs == 1
    assert archive.regate(TABLE, since="0001-01-01").runs == 2  # no moment before it


@pytest.mark.parametrize(
    ("since", "error"),
    [("20991231T", RunNotFoundError), ("yesterday", TimeFormatError)],
)
def test_a_bad_since_is_an_error(
    archive: TrainingArchiveManager, since: str, error: type[Exception]
) -> None:
    """An unknown prefix or a TIME that is none raises the library's error."""
    archive.archive_training_run(summary("a", 0.9))
    with pytest.raises(error):
        archive.regate(TABLE, since=since)


def test_an_unreadable_run_is_skipped_with_its_reason(archive: TrainingArchiveManager) -> None:
    """A run whose summary cannot be read is reported, the others re-gated."""
    runs = archive.archive_training_runs([summary("a", 0.9), summary("b", 0.9)])
    assert runs[0].path is not None
    (runs[0].path / "summary.json").write_bytes(b"{")
    report = archive.regate(ModelGatingConfig())
    assert report.runs == 1
    assert [t for t, _ in report.skipped] == [runs[0].timestamp]


@pytest.mark.parametrize("history", [["x"], [[1]], "0.5"])
def test_a_record_whose_history_was_edited_is_skipped(
    archive: TrainingArchiveManager, history: object
) -> None:
    """A record edited by hand into a history that is no list of numbers: that run is
    skipped with its reason, the others re-gated (regate failed whole, exit 1)."""
    runs = archive.archive_training_runs([summary("a", 0.6), summary("b", 0.9)])
    assert runs[0].path is not None
    path = runs[0].path / "model_assessments.json"
    record = json.loads(path.read_text("utf-8"))
    record["models"][0]["fitness_history"] = history
    path.write_text(json.dumps(record), "utf-8")
    report = archive.regate(ModelGatingConfig(approved_min_fitness=0.5))  # a change: why
    assert report.runs == 1
    assert [t for t, _ in report.skipped] == [runs[0].timestamp]


def test_a_summary_edited_since_it_was_archived_is_skipped(
    archive: TrainingArchiveManager,
) -> None:
    """A summary.json whose bytes are no longer those archived is skipped, not re-gated
    (its edits were reported as changes of class)."""
    runs = archive.archive_training_runs([summary("a", 0.9), summary("b", 0.9)])
    assert runs[0].path is not None
    path = runs[0].path / "summary.json"
    path.write_bytes(path.read_bytes().replace(b"0.9", b"0.1"))
    report = archive.regate(ModelGatingConfig())
    assert (report.runs, report.changes) == (1, [])
    (skipped,) = report.skipped
    assert skipped[0] == runs[0].timestamp
    assert "changed since it was archived" in skipped[1]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["summary.json", "model_assessments.json"])
@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero"])
def test_a_run_file_that_is_no_file_is_skipped_without_blocking(
    archive: TrainingArchiveManager, name: str, kind: str
) -> None:
    """A run's summary or record as a FIFO or a symlink to /dev/zero: that run is skipped
    with its reason (a FIFO hung regate, /dev/zero filled its memory)."""
    runs = archive.archive_training_runs([summary("a", 0.9), summary("b", 0.9)])
    assert runs[0].path is not None
    planted = runs[0].path / name
    planted.unlink()
    if kind == "fifo":
        os.mkfifo(planted)
    else:
        planted.symlink_to("/dev/zero")
    report = archive.regate(ModelGatingConfig())
    assert report.runs == 1
    assert [t for t, _ in report.skipped] == [runs[0].timestamp]


def test_workers_agree_with_one_process(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks re-gated in worker processes fold into the same report as in one process."""
    values = [0.90, 0.85, 0.95, 0.93, 0.70, 0.99, 0.96, 0.5, 0.98, 0.97, 0.91]
    runs = archive.archive_training_runs([summary(f"r{i}", v) for i, v in enumerate(values)])
    archive.decide(runs[5].timestamp, "AAPL", "drop", by="ann", reason="x", force=True)
    monkeypatch.setattr(regate_module, "PARALLEL_MIN_RUNS", 1)
    monkeypatch.setattr(regate_module, "CHUNK_RUNS", 3)
    done: list[int] = []
    parallel = archive.regate(TABLE, workers=2, progress=lambda d, _t: done.append(d))
    alone = archive.regate(TABLE, workers=1)
    assert parallel.as_document() == alone.as_document()
    assert parallel.changes
    assert done == [3, 6, 9, 11]


def test_an_empty_archive(tmp_path: Path) -> None:
    """Nothing archived: nothing re-gated."""
    report = TrainingArchiveManager(tmp_path / "none").regate(TABLE)
    assert (report.runs, report.changes) == (0, [])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_regate_stopped_midway_or_losing_a_worker_ends_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Closing the re-gating midway (Ctrl-C, SIGTERM) terminates its worker processes at
    once (an executor waited for every chunk queued: 12-15 s after a Ctrl-C, and killed it
    left them behind, blocked for good); a worker killed (out of memory) ends it with one
    ArchiveError line (a Pool waited for its chunk for ever)."""
    names = [ts_from_micros(i) for i in range(1, regate_module.PARALLEL_MIN_RUNS + 1)]
    first = set(names[: regate_module.CHUNK_RUNS])

    def slow(root: str, timestamp: str, *_: object) -> RunOutcome:
        if timestamp not in first:  # every chunk but the first
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(30)
        return RunOutcome(timestamp, ts_micros(timestamp), None, error="not read")

    monkeypatch.setattr(regate_module, "gate_run", slow)  # the forked workers call it
    monkeypatch.setattr(regate_module, "_context", lambda: multiprocessing.get_context("fork"))
    outcomes = regate_module._outcomes(Layout(tmp_path), names, ModelGatingConfig(), 2, None)
    began = time.monotonic()
    if how == "stopped":
        assert next(outcomes).timestamp == names[0]
        began = time.monotonic()
        outcomes.close()
    else:  # the first chunk's result may be lost with the pool: nothing is asked of it
        with pytest.raises(ArchiveError, match="a worker process ended abruptly"):
            list(outcomes)
    assert time.monotonic() - began < 10
    wait_until(lambda: not multiprocessing.active_children(), 10, "every worker gone")
