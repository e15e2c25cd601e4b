"""Tests for gating.archive: atomic run folders, the catalog, index.json and recovery."""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gating.archive.durable as durable_module
from gating import (
    ArchiveBusyError,
    ArchiveError,
    IncompleteSummaryError,
    RunNotFoundError,
    SummaryError,
    TrainingArchiveManager,
)
from gating.archive import RUN_FILES
from gating.archive.disk import Disk
from gating.archive.layout import ts_from_micros, ts_micros
from gating.archive.rejections import unread_key
from tests.conftest import make_model, make_summary, summary_bytes
from tests.faulty_disk import FaultyDisk

TIMESTAMP = re.compile(r"^\d{8}T\d{12}Z$")


@pytest.fixture
def archive(tmp_path: Path) -> TrainingArchiveManager:
    """A manager on an empty archive folder."""
    return TrainingArchiveManager(tmp_path / "training_archives")


def run_folders(root: Path) -> list[str]:
    """The published run folders of an archive."""
    return (
        sorted(p.name for p in root.iterdir() if TIMESTAMP.match(p.name)) if root.exists() else []
    )


def test_archive_writes_three_files_and_counts(archive: TrainingArchiveManager) -> None:
    """A run folder holds the raw summary, the assessments record and the report."""
    raw = summary_bytes()
    run = archive.archive_training_run(raw, source="out/run_summary.json")
    assert (run.approved_count, run.review_count, run.dropped_count) == (1, 1, 1)
    assert run.path is not None
    assert sorted(p.name for p in run.path.iterdir()) == sorted(RUN_FILES)
    assert (run.path / "summary.json").read_bytes() == raw
    record = json.loads((run.path / "model_assessments.json").read_text("utf-8"))
    assert record["summary_sha256"] == run.sha256
    assert record["config"]["approved_min_fitness"] == 0.70
    fitness = record["models"][0]["metrics"]["fitness"]
    assert fitness == {
        "value": 0.75,
        "approved_threshold": 0.7,
        "review_threshold": 0.5,
        "band": "approved",
    }
    assert "1 APPROVED · 1 REVIEW · 1 DROP" in (run.path / "recommendations.md").read_text("utf-8")


def test_timestamps_strictly_increase_even_if_clock_goes_back(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timestamps are UTC microsecond stamps that strictly increase within one archive."""
    monkeypatch.setattr("gating.archive.layout.time.time_ns", lambda: 1_700_000_000_000_000_000)
    stamps = [archive.archive_training_run(summary_bytes(f"r{i}")).timestamp for i in range(3)]
    assert all(TIMESTAMP.match(ts) for ts in stamps)
    assert stamps == sorted(set(stamps))
    assert stamps[0] == "20231114T221320000000Z"


def test_same_bytes_are_archived_once(archive: TrainingArchiveManager) -> None:
    """Archiving identical bytes again returns the existing run as a duplicate."""
    first = archive.archive_training_run(summary_bytes())
    again = TrainingArchiveManager(archive.archive_dir).archive_training_run(summary_bytes())
    assert again.duplicate is True
    assert again.timestamp == first.timestamp
    assert len(run_folders(archive.archive_dir)) == 1


def test_queries(archive: TrainingArchiveManager) -> None:
    """Approved models, symbol history and the run list answer from the index."""
    first = archive.archive_training_run(make_summary("a"))
    second = archive.archive_training_run(
        {"run_id": "b", "models": {"SYM0": make_model(0.6), "SYM9": make_model()}}
    )
    assert archive.get_approved_models() == ["SYM9"]
    assert archive.get_approved_models(first.timestamp) == ["SYM0"]
    history = archive.get_symbol_history("SYM0")
    assert [h["timestamp"] for h in history] == [first.timestamp, second.timestamp]
    assert [h["classification"] for h in history] == ["APPROVED", "REVIEW"]
    expected_keys = {
        "timestamp", "run_id", "classification", "flags", "fitness", "profit_factor",
        "consistency", "max_drawdown", "use_checkpoint", "best_idx", "checkpoint_step",
        "verdict", "decision",
    }  # fmt: skip
    assert set(history[0]) == expected_keys
    assert [(h["verdict"], h["decision"]) for h in history] == [
        ("APPROVED", None),
        ("REVIEW", None),
    ]
    assert archive.get_symbol_history("NOPE") == []
    runs = archive.list_runs()
    assert [(r["timestamp"], r["approved"], r["review"], r["dropped"]) for r in runs] == [
        (first.timestamp, 1, 1, 1),
        (second.timestamp, 1, 1, 0),
    ]


def test_unknown_timestamp_is_a_key_error(archive: TrainingArchiveManager) -> None:
    """An unknown timestamp raises a KeyError subclass with a readable message."""
    archive.archive_training_run(summary_bytes())
    with pytest.raises(KeyError) as caught:
        archive.get_approved_models("20000101T000000000000Z")
    assert isinstance(caught.value, RunNotFoundError)
    assert "no archived run" in str(caught.value)


def test_empty_archive_queries(archive: TrainingArchiveManager) -> None:
    """An archive that does not exist yet answers every query with nothing."""
    assert archive.list_runs() == []
    assert archive.get_approved_models() == []
    assert not archive.archive_dir.exists()


@pytest.mark.parametrize("raw", [b"{not json", json.dumps(make_summary("r" * 1001)).encode()])
def test_bad_summary_writes_nothing(archive: TrainingArchiveManager, raw: bytes) -> None:
    """An invalid summary (not JSON, a run id over MAX_TEXT_CHARS) raises SummaryError and
    leaves no trace in the archive."""
    with pytest.raises(SummaryError):
        archive.archive_training_run(raw)
    assert run_folders(archive.archive_dir) == []


def test_compaction_writes_the_index_from_the_catalog(tmp_path: Path) -> None:
    """Compaction writes every catalogued run into index.json, oldest first."""
    archive = TrainingArchiveManager(tmp_path / "a", auto_compact=False)
    for i in range(3):
        archive.archive_training_run(summary_bytes(f"r{i}"))
    assert not archive.index_path.exists()
    assert archive.compact() == 3
    index = json.loads(archive.index_path.read_text("utf-8"))
    assert [r["run_id"] for r in index["runs"]] == ["r0", "r1", "r2"]
    assert len(TrainingArchiveManager(archive.archive_dir).list_runs()) == 3


def test_index_json_is_folded_while_cheap_and_on_close(tmp_path: Path) -> None:
    """A small archive's index.json lists each run at once; closing folds what is left."""
    with TrainingArchiveManager(tmp_path / "a") as archive:
        archive.archive_training_run(summary_bytes("r0"))
        index = json.loads(archive.index_path.read_text("utf-8"))
        assert [r["run_id"] for r in index["runs"]] == ["r0"]
    with TrainingArchiveManager(tmp_path / "a", auto_compact=False) as archive:
        archive.archive_training_run(summary_bytes("r1"))
        assert len(json.loads(archive.index_path.read_text("utf-8"))["runs"]) == 1
    assert len(json.loads(archive.index_path.read_text("utf-8"))["runs"]) == 2


def test_reader_never_misses_or_doubles_a_run_across_compaction(
    archive: TrainingArchiveManager,
) -> None:
    """A long-lived reader sees each run exactly once before, during and after compaction."""
    reader = TrainingArchiveManager(archive.archive_dir)
    expected = []
    for i in range(6):
        expected.append(archive.archive_training_run(summary_bytes(f"r{i}")).timestamp)
        assert [r["timestamp"] for r in reader.list_runs()] == expected
        if i % 2:
            archive.compact()
            assert [r["timestamp"] for r in reader.list_runs()] == expected


def test_reindex_rebuilds_from_run_folders_alone(archive: TrainingArchiveManager) -> None:
    """With index.json and the catalog deleted, reindex lists every run folder again."""
    stamps = [archive.archive_training_run(summary_bytes(f"r{i}")).timestamp for i in range(3)]
    archive.close()
    archive.index_path.unlink()
    archive.catalog_path.unlink()
    fresh = TrainingArchiveManager(archive.archive_dir)
    seen: list[tuple[int, int]] = []
    assert fresh.reindex(progress=lambda done, total: seen.append((done, total))) == 3
    assert [r["timestamp"] for r in fresh.list_runs()] == stamps
    assert seen[-1] == (3, 3)


_summaries = st.lists(
    st.dictionaries(
        st.sampled_from(["AAPL", "MSFT", "TSLA", "NVDA"]),
        st.builds(
            make_model,
            fitness=st.one_of(st.none(), st.floats(-1, 2)),
            pf=st.one_of(st.none(), st.floats(0, 4), st.just(float("inf"))),
            consistency=st.one_of(st.none(), st.floats(0, 1)),
            max_dd=st.one_of(st.none(), st.floats(-1, 1)),
            history=st.lists(st.one_of(st.none(), st.floats(-1, 2)), max_size=8),
        ),
        min_size=1,
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(models=_summaries)
def test_reindex_reproduces_the_index(tmp_path: Path, models: list[dict[str, Any]]) -> None:
    """reindex() writes exactly the index that archiving and compaction produced."""
    root = tmp_path / f"a{os.urandom(4).hex()}"
    archive = TrainingArchiveManager(root)
    for i, model_set in enumerate(models):
        archive.archive_training_run(
            {"run_id": f"r{i}", "validation_interval": 5, "models": model_set}
        )
    archive.compact()
    compacted = archive.index_path.read_bytes()
    assert TrainingArchiveManager(root).reindex() == len(models)
    assert archive.index_path.read_bytes() == compacted


def test_writer_lock_is_exclusive(tmp_path: Path) -> None:
    """A writer gives up with ArchiveBusyError when another holds the lock too long."""
    root = tmp_path / "training_archives"
    root.mkdir()
    with (root / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        archive = TrainingArchiveManager(root, lock_timeout=0.05)
        with pytest.raises(ArchiveBusyError, match="another writer"):
            archive.archive_training_run(summary_bytes())
    assert run_folders(root) == []


def test_reject_keeps_copy_and_reason(archive: TrainingArchiveManager) -> None:
    """A rejected file is copied to _rejected/ with its reason and remembered by sha256."""
    reason = archive.writer.reject(
        b"junk", source="/in/bad_summary.json", reason="file: x", sha256="ab"
    )
    assert reason is not None
    assert reason.parent == archive.rejected_dir
    assert json.loads(reason.read_text("utf-8"))["reason"] == "file: x"
    copies = [p for p in archive.rejected_dir.iterdir() if not p.name.endswith(".reason.json")]
    assert [p.read_bytes() for p in copies] == [b"junk"]
    assert archive.writer.rejected_keys() == {"ab"}
    too_large = "file: 9000 bytes is larger than max_file_bytes (4096)"
    archive.writer.reject(None, source="/in/big_summary.json", reason=too_large)
    unread = unread_key("/in/big_summary.json", too_large)
    assert archive.writer.rejected_keys() == {"ab", unread}


def test_disk_fault_leaves_archive_unchanged(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing a run publishes nothing, leaves no staging and no index change."""
    archive.archive_training_run(summary_bytes("r0"))
    before = archive.list_runs()
    faulty = TrainingArchiveManager(
        archive.archive_dir, disk=FaultyDisk(fail_at="write:model_assessments.json:written")
    )
    with pytest.raises(ArchiveError, match="No space left"):
        faulty.archive_training_run(summary_bytes("r1"))
    assert len(run_folders(archive.archive_dir)) == 1
    assert [p.name for p in archive.archive_dir.iterdir() if p.name.startswith(".staging")] == []
    assert TrainingArchiveManager(archive.archive_dir).list_runs() == before
    assert archive.archive_training_run(summary_bytes("r1")).duplicate is False


_CRASH_SCRIPT = """
import sys
from gating import TrainingArchiveManager
from tests.faulty_disk import FaultyDisk
archive = TrainingArchiveManager(sys.argv[1], disk=FaultyDisk(crash_at=sys.argv[2]))
summaries = sys.argv[3:]
if len(summaries) == 1:
    archive.archive_training_run(summaries[0])
else:
    archive.archive_training_runs(summaries)
"""

CRASH_POINTS = [
    "write:summary.json:written",
    "write:model_assessments.json:written",
    "write:recommendations.md:written",
    "archive:staged",
    "archive:published",
    "archive:committed",
    "archive:cataloged",
]

GROUP_CRASH_POINTS = [
    "write:recommendations.md:written",
    "archive:staged",
    "archive:published",
    "archive:committed",
    "archive:cataloged",
]


@pytest.mark.parametrize(
    ("point", "runs"),
    [(point, 1) for point in CRASH_POINTS] + [(point, 4) for point in GROUP_CRASH_POINTS],
)
def test_crash_at_any_point_leaves_each_run_complete_or_absent(
    tmp_path: Path, point: str, runs: int
) -> None:
    """A process killed at any step of one run or a group leaves whole runs only."""
    root = tmp_path / "training_archives"
    TrainingArchiveManager(root).archive_training_run(summary_bytes("before"))
    summaries = [summary_bytes(f"crashed{i}").decode() for i in range(runs)]
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(root), point, *summaries],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 86, done.stderr
    for name in run_folders(root):
        assert sorted(p.name for p in (root / name).iterdir()) == sorted(RUN_FILES)
        json.loads((root / name / "model_assessments.json").read_text("utf-8"))
    fresh = TrainingArchiveManager(root)
    fresh.archive_training_runs(summaries)  # recovery runs under the lock, then dedupes
    assert len(run_folders(root)) == 1 + runs
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]
    fresh.compact()
    assert [r["timestamp"] for r in fresh.list_runs()] == run_folders(root)


def test_prepare_writes_nothing_and_commit_publishes(archive: TrainingArchiveManager) -> None:
    """prepare() only computes; commit() archives; a prepared duplicate commits as one."""
    prepared = archive.prepare(summary_bytes("p"), source="in/p.json")
    assert not archive.archive_dir.exists()
    assert [a.classification for a in prepared.assessments] == ["APPROVED", "REVIEW", "DROP"]
    run = archive.commit(prepared)
    assert run.path is not None
    assert (run.path / "summary.json").read_bytes() == summary_bytes("p")
    assert archive.commit(archive.prepare(summary_bytes("p"))).duplicate is True


def test_commit_after_a_later_run_takes_a_later_timestamp(tmp_path: Path) -> None:
    """A run prepared before another writer archived gets a fresh, later timestamp."""
    root = tmp_path / "training_archives"
    slow, fast = TrainingArchiveManager(root), TrainingArchiveManager(root)
    early = slow.prepare(summary_bytes("early"))
    later = fast.archive_training_run(summary_bytes("later"))
    committed = slow.commit(early)
    assert committed.timestamp > later.timestamp
    record = json.loads((root / committed.timestamp / "model_assessments.json").read_text())
    assert record["timestamp"] == committed.timestamp
    assert committed.timestamp in (root / committed.timestamp / "recommendations.md").read_text()


def test_group_commit_archives_each_summary_once_in_order(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run or a whole group is flushed with one syncfs; repeats come back as duplicates."""
    calls: list[int] = []
    syncfs = durable_module._syncfs()
    if syncfs is None:
        pytest.skip("no syncfs on this system")

    def counted(fd: int) -> int:
        calls.append(fd)
        return syncfs(fd)

    monkeypatch.setattr(durable_module, "_SYNCFS", counted)
    monkeypatch.setattr("gating.archive.commit.syncfs_is_cheap", lambda: True)
    earlier = archive.archive_training_run(summary_bytes("r0"))
    assert len(calls) == 1  # a single run is flushed the same way
    raws = [summary_bytes("r1"), summary_bytes("r0"), summary_bytes("r2"), summary_bytes("r1")]
    runs = archive.archive_training_runs(raws)
    assert len(calls) == 2  # one for the whole group
    assert [run.duplicate for run in runs] == [False, True, False, True]
    assert runs[1].timestamp == earlier.timestamp
    assert runs[3].timestamp == runs[0].timestamp
    assert earlier.timestamp < runs[0].timestamp < runs[2].timestamp
    assert run_folders(archive.archive_dir) == [
        earlier.timestamp,
        runs[0].timestamp,
        runs[2].timestamp,
    ]
    assert [r["timestamp"] for r in archive.list_runs()] == run_folders(archive.archive_dir)


@pytest.mark.parametrize(
    ("meminfo", "cheap"),
    [
        ("Dirty:        1024 kB\nWriteback:       0 kB\n", True),
        ("Dirty:       40000 kB\nWriteback:   30000 kB\n", False),
        ("Dirty:      200000 kB\nWriteback:       0 kB\n", False),
        (None, False),
    ],
)
def test_syncfs_is_cheap_only_while_little_data_waits(
    tmp_path: Path, meminfo: str | None, cheap: bool
) -> None:
    """One syncfs flushes the whole filesystem: it is used only while little dirty data
    (Dirty + Writeback below 64 MiB) would be flushed with ours."""
    if durable_module._syncfs() is None:
        pytest.skip("no syncfs on this system")
    path = tmp_path / "meminfo"
    if meminfo is not None:
        path.write_text(meminfo)
    assert durable_module.syncfs_is_cheap(path) is cheap


def test_syncfs_is_cheap_looks_again_only_after_a_second(tmp_path: Path) -> None:
    """The dirty data is looked up at most once a second: a change shows after that."""
    if durable_module._syncfs() is None:
        pytest.skip("no syncfs on this system")
    path = tmp_path / "meminfo"
    path.write_text("Dirty:        1024 kB\n")
    clock = [100.0]
    assert durable_module.syncfs_is_cheap(path, now=lambda: clock[0]) is True
    path.write_text("Dirty:      200000 kB\n")
    clock[0] += durable_module.LOOK_EVERY_SECONDS / 2
    assert durable_module.syncfs_is_cheap(path, now=lambda: clock[0]) is True
    clock[0] += durable_module.LOOK_EVERY_SECONDS
    assert durable_module.syncfs_is_cheap(path, now=lambda: clock[0]) is False


def test_group_commit_without_syncfs_fsyncs_each_file(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no syncfs, a group is archived the same way, file by file."""
    monkeypatch.setattr(durable_module, "_SYNCFS", None)
    runs = archive.archive_training_runs([summary_bytes(f"r{i}") for i in range(3)])
    assert run_folders(archive.archive_dir) == [run.timestamp for run in runs]


def test_invalid_summary_in_a_group_names_its_position(archive: TrainingArchiveManager) -> None:
    """The summaries before an invalid one are archived; calling again is safe."""
    raws = [summary_bytes("r0"), summary_bytes("r1"), b"{}", summary_bytes("r3")]
    with pytest.raises(SummaryError, match=r"^summary #2: "):
        archive.archive_training_runs(raws)
    assert len(run_folders(archive.archive_dir)) == 2
    again = archive.archive_training_runs([raws[0], raws[1], raws[3]])
    assert [run.duplicate for run in again] == [True, True, False]
    with pytest.raises(IncompleteSummaryError, match=r"^summary #1: "):  # the same kind
        archive.archive_training_runs([raws[0], raws[1][:10]])


def test_rename_failure_mid_group_keeps_the_runs_already_published(
    archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename that fails part-way leaves earlier runs archived and indexed, the rest absent."""
    real_rename = os.rename
    renames: list[str] = []

    def failing(source: Any, target: Any) -> None:
        renames.append(str(target))
        if len(renames) == 3:
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", failing)
    raws = [summary_bytes(f"r{i}") for i in range(4)]
    with pytest.raises(ArchiveError, match="No space left"):
        archive.archive_training_runs(raws)
    assert len(run_folders(archive.archive_dir)) == 2
    assert not [p for p in archive.archive_dir.iterdir() if p.name.startswith(".staging")]
    monkeypatch.setattr(os, "rename", real_rename)
    again = archive.archive_training_runs(raws)
    assert [run.duplicate for run in again] == [True, True, False, False]
    assert [r["timestamp"] for r in archive.list_runs()] == run_folders(archive.archive_dir)


class _Interrupting(Disk):
    """A disk where Ctrl-C comes once, at the step named."""

    def __init__(self, at: str) -> None:
        self.at: str | None = at

    def step(self, name: str) -> None:
        if name == self.at:
            self.at = None
            raise KeyboardInterrupt


@pytest.mark.parametrize("at", ["catalog:add", "archive:staged"])
def test_ctrl_c_in_a_group_then_the_same_group_again_archives_each_once(
    tmp_path: Path, at: str
) -> None:
    """Ctrl-C before the catalog takes a group's runs leaves them in place, and the same
    manager's next call finds them (before: it archived the same bytes again as new
    runs, the catalog naming the copies, which a reindex then called damaged)."""
    archive = TrainingArchiveManager(tmp_path / "archive", disk=_Interrupting(at))
    raws = [summary_bytes(f"r{i}") for i in range(3)]
    with pytest.raises(KeyboardInterrupt):
        archive.archive_training_runs(raws)
    again = archive.archive_training_runs(raws)
    assert len({run.timestamp for run in again}) == 3
    assert [r["timestamp"] for r in archive.list_runs()] == run_folders(archive.archive_dir)
    assert len(run_folders(archive.archive_dir)) == 3
    assert archive.reindex() == 3
    assert not [p for p in archive.archive_dir.iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize(
    ("summary", "source"),
    [
        ({"models": {"A": make_model(pf=math.inf)}}, None),
        ({"models": {"A": make_model(history=[0.5, math.inf, None])}}, None),
        ({"reward_scale": 10**400, "models": {"A": make_model()}}, None),
        ({"validation_interval": 10**30, "models": {"A": make_model()}}, None),
        ({"models": {"A": make_model()}}, "/in/\udcff-summary.json"),
    ],
)
def test_records_orjson_cannot_write_are_kept_faithfully(
    archive: TrainingArchiveManager, summary: dict[str, Any], source: str | None
) -> None:
    """Infinity, integers beyond 64 bits and undecodable file names are archived and read
    back as they were given (the standard encoder writes what orjson cannot)."""
    raw = json.dumps(summary).encode()
    run = archive.archive_training_run(raw, source=source)
    assert run.path is not None
    again = archive.reader.get_run(run.timestamp)
    assert again.assessments == run.assessments
    assert (again.reward_scale, again.validation_interval) == (
        run.reward_scale,
        run.validation_interval,
    )
    assert again.source == (None if source is None else "/in/\\udcff-summary.json")
    assert archive.list_runs()[-1]["source"] == again.source
    assert (run.path / "recommendations.md").read_text("utf-8")


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))
def test_timestamp_text_round_trips(micros: int) -> None:
    """A run timestamp converts to its text form and back without loss."""
    text = ts_from_micros(micros)
    assert TIMESTAMP.match(text)
    assert ts_micros(text) == micros


def test_an_empty_archive_dir_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty archive_dir is an error, not the current folder (as config refuses one)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="archive_dir: must name a folder"):
        TrainingArchiveManager("")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("record", [b"{", b"[]", b'{"models": 5}', b"\x00\xff", "fifo"])
def test_a_duplicate_of_a_run_whose_record_is_hostile_is_gated_again(
    tmp_path: Path, record: bytes | str
) -> None:
    """The same bytes again, their run's record edited by hand (not JSON, not our shape,
    a FIFO): answered as a duplicate, gated again, with no traceback and nothing written."""
    archive = TrainingArchiveManager(tmp_path / "a")
    first = archive.archive_training_run(summary_bytes("r"))
    assert first.path is not None
    path = first.path / "model_assessments.json"
    path.unlink()
    if record == "fifo":
        os.mkfifo(path)
    else:
        assert isinstance(record, bytes)
        path.write_bytes(record)
    again = archive.archive_training_run(summary_bytes("r"))
    assert (again.duplicate, again.timestamp) == (True, first.timestamp)
    assert [a.classification for a in again.assessments] == [
        a.classification for a in first.assessments
    ]
    assert len(archive.list_runs()) == 1
    archive.close(fold=False)
