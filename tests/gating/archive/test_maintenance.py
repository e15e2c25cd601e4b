"""Tests for gating.archive.maintenance: damaged derived files and run folders, litter."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError, TrainingArchiveManager
from tests.conftest import summary_bytes

Damage = Callable[[Path], None]


def _truncate_mid_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _cut_to_ten_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:10])


def _garbage_line(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00garbage, not json\n")


def _null_and_future_line(path: Path) -> None:
    line = b'{"timestamp": null, "sha256": null}\n{"timestamp": "21000101T000000000000Z"}\n'
    path.write_bytes(path.read_bytes().replace(b"[\n", b"[\n" + line, 1))


def _delete(path: Path) -> None:
    path.unlink()


def _archive(root: Path, count: int = 3) -> tuple[TrainingArchiveManager, list[str]]:
    with TrainingArchiveManager(root) as manager:
        stamps = [
            manager.archive_training_run(summary_bytes(f"r{i}")).timestamp for i in range(count)
        ]
    return manager, stamps


def _damage_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "file", "") for r in caplog.records if r.getMessage() == "index_damaged"]


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("index.json", _truncate_mid_line),
        ("index.json", _cut_to_ten_bytes),
        ("index.json", _garbage_line),
        ("index.json", _null_and_future_line),
        ("index.json", _delete),
        ("catalog.sqlite3", _truncate_mid_line),
        ("catalog.sqlite3", _cut_to_ten_bytes),
        ("catalog.sqlite3", _garbage_line),
        ("catalog.sqlite3", _delete),
    ],
)
def test_damaged_derived_data_is_rebuilt_and_dedup_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, damage: Damage
) -> None:
    """Any damage to index.json or the catalog is logged once, rebuilt from the run folders,
    and a renamed copy of an archived summary is still a duplicate."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    for suffix in ("-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)
    damage(root / name)
    caplog.set_level(logging.WARNING, logger="gating.archive")
    manager = TrainingArchiveManager(root)
    again = manager.archive_training_run(summary_bytes("r1"), source="/in/renamed_summary.json")
    assert again.duplicate is True
    assert again.timestamp == stamps[1]
    fresh = manager.archive_training_run(summary_bytes("r3"))
    assert fresh.timestamp > stamps[-1]
    assert fresh.timestamp < "2100"
    assert [r["timestamp"] for r in manager.list_runs()] == [*stamps, fresh.timestamp]
    assert manager.get_symbol_history("SYM0")[-1]["timestamp"] == fresh.timestamp
    harmless = name == "catalog.sqlite3" and damage is _garbage_line  # SQLite ignores a tail
    assert _damage_events(caplog) == ([] if harmless else [str(root / name)])
    manager.compact()
    index = json.loads((root / "index.json").read_text("utf-8"))
    assert [r["timestamp"] for r in index["runs"]] == [*stamps, fresh.timestamp]


def test_a_reader_rebuilds_a_damaged_catalog(tmp_path: Path) -> None:
    """A query on a damaged catalog answers from a rebuilt one, never with a traceback."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    (root / "catalog.sqlite3").write_bytes(b"not a database at all, sorry" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)
    reader = TrainingArchiveManager(root)
    assert [r["timestamp"] for r in reader.list_runs()] == stamps
    assert reader.get_approved_models() == ["SYM0"]


@pytest.mark.parametrize("what", ["record missing", "empty far-future folder", "copied folder"])
def test_damaged_run_folders_are_reported_skipped_and_set_no_floor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str
) -> None:
    """A run folder that is not a readable run is reported by reindex, skipped by queries,
    does not set the timestamp floor, and its summary's bytes are still not archived twice."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    if what == "record missing":
        bad = stamps[1]
        (root / bad / "model_assessments.json").unlink()
        kept = [stamps[0], stamps[2]]
    elif what == "empty far-future folder":
        bad = "21000101T000000000000Z"
        (root / bad).mkdir()
        kept = stamps
    else:
        bad = "20000101T000000000000Z"
        shutil.copytree(root / stamps[0], root / bad)
        kept = stamps
    caplog.set_level(logging.WARNING, logger="gating.archive")
    manager = TrainingArchiveManager(root)
    assert manager.reindex() == len(kept)
    assert [timestamp for timestamp, _ in manager.reader.damaged_runs()] == [bad]
    assert [r.getMessage() for r in caplog.records].count("run_damaged") == 1
    assert [r["timestamp"] for r in manager.list_runs()] == kept
    fresh = manager.archive_training_run(summary_bytes("new"))
    assert stamps[-1] < fresh.timestamp < "2100"
    assert manager.archive_training_run(summary_bytes("r1")).duplicate is True
    assert manager.archive_training_run(summary_bytes("r0")).duplicate is True


def test_a_start_adds_published_folders_the_catalog_lacks(tmp_path: Path) -> None:
    """Runs published after the catalog's last commit (a power cut) are found again."""
    root = tmp_path / "archive"
    _archive(root, 2)
    saved = (root / "catalog.sqlite3").read_bytes()
    with TrainingArchiveManager(root) as late:
        late.archive_training_run(summary_bytes("late"))
    (root / "catalog.sqlite3").write_bytes(saved)  # the catalog as it was before
    for suffix in ("-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)
    manager = TrainingArchiveManager(root)
    assert manager.recover() == 1
    assert [r["run_id"] for r in manager.list_runs()] == ["r0", "r1", "late"]


def test_litter_of_interrupted_writes_is_cleared(tmp_path: Path) -> None:
    """Temp files and staging folders a killed writer left are removed by the next one."""
    root = tmp_path / "archive"
    _archive(root, 1)
    litter = [
        root / ".index.json.4242.tmp",
        root / "_rejected" / ".x.reason.json.4242.tmp",
        root / ".staging-20240101T000000000000Z",
    ]
    litter[1].parent.mkdir()
    litter[0].write_bytes(b"x" * 1000)
    litter[1].write_bytes(b"{}")
    litter[2].mkdir()
    TrainingArchiveManager(root).archive_training_run(summary_bytes("next"))
    assert [path for path in litter if path.exists()] == []


def _delete_catalog(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite3'}{suffix}").unlink(missing_ok=True)


def _truncate_catalog(root: Path) -> None:
    with (root / "catalog.sqlite3").open("r+b") as file:
        file.truncate(0)


def _replace_catalog(root: Path) -> None:
    replacement = root / "other.sqlite3"
    replacement.write_bytes(b"")
    replacement.replace(root / "catalog.sqlite3")


@pytest.mark.parametrize("damage", [_delete_catalog, _truncate_catalog, _replace_catalog])
def test_open_processes_notice_a_catalog_deleted_under_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    """A catalog deleted, truncated or replaced while open: the views agree, one rebuild."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    service = TrainingArchiveManager(root)  # like `gatewatch run`: writes, and reads between
    dashboard = TrainingArchiveManager(root)  # like `gatewatch serve`: reads only
    try:
        assert len(service.list_runs()) == len(dashboard.list_runs()) == 3
        with caplog.at_level(logging.WARNING):
            damage(root)
            newest = service.archive_training_run(summary_bytes("after")).timestamp
            for manager in (dashboard, service):
                assert [r["timestamp"] for r in manager.list_runs()] == [*stamps, newest]
            with TrainingArchiveManager(root) as cli:
                assert [r["timestamp"] for r in cli.list_runs()] == [*stamps, newest]
                cli.decide(newest, "SYM1", "drop", by="ann", reason="r")
            assert dashboard.get_symbol_history("SYM1")[-1]["verdict"] == "DROP"
        assert _damage_events(caplog).count(str(root / "catalog.sqlite3")) == 1
    finally:
        service.close()
        dashboard.close()


def _whole(root: Path) -> bytes:
    """index.json as compaction writes it whole from the catalog now."""
    from gating.archive.maintenance import write_index

    copy = root.parent / "whole"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy)
    with TrainingArchiveManager(copy) as manager:
        writer = manager.writer
        write_index(writer.layout, writer.catalog, writer.disk)  # type: ignore[attr-defined]
    return (copy / "index.json").read_bytes()


@pytest.mark.parametrize("groups", [[1, 1, 1], [3, 5, 8], [0, 2, 4]])
def test_a_fold_appends_to_index_json_what_a_whole_write_would_hold(
    tmp_path: Path, groups: list[int]
) -> None:
    """Folding after each group (old bytes copied, new lines appended) gives the same file
    as writing it whole, from an empty index.json on."""
    from gating.archive.maintenance import fold_index

    root = tmp_path / "a"
    with TrainingArchiveManager(root, auto_compact=False) as manager:
        writer = manager.writer
        manager.compact()
        made = 0
        for size in groups:
            manager.archive_training_runs([summary_bytes(f"r{made + i}") for i in range(size)])
            made += size
            listed = fold_index(writer.layout, writer.catalog, writer.disk)  # type: ignore[attr-defined]
            assert listed == made
            assert (root / "index.json").read_bytes() == _whole(root)


@pytest.mark.parametrize("damage", [_garbage_line, _cut_to_ten_bytes, _delete])
def test_a_fold_over_an_index_json_changed_by_hand_writes_it_whole(
    tmp_path: Path, damage: Damage
) -> None:
    """An index.json that is not the file last written is never appended to."""
    from gating.archive.maintenance import fold_index

    root = tmp_path / "a"
    with TrainingArchiveManager(root, auto_compact=False) as manager:
        writer = manager.writer
        manager.archive_training_runs([summary_bytes(f"r{i}") for i in range(3)])
        manager.compact()
        damage(root / "index.json")
        manager.archive_training_run(summary_bytes("new"))
        assert fold_index(writer.layout, writer.catalog, writer.disk) == 4  # type: ignore[attr-defined]
        assert (root / "index.json").read_bytes() == _whole(root)


def test_a_folder_named_like_the_old_journal_lets_compaction_and_reindex_succeed(
    tmp_path: Path,
) -> None:
    """A directory where archives made before the catalog kept index.journal.jsonl is not
    ours: compact and reindex write index.json and succeed, and leave it alone (both failed
    with "Is a directory" after writing index.json)."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(2))
    (archive.archive_dir / "index.journal.jsonl").mkdir()
    assert archive.compact() == 2
    assert archive.reindex() == 2
    assert len(json.loads(archive.index_path.read_bytes())["runs"]) == 2
    assert (archive.archive_dir / "index.journal.jsonl").is_dir()


@pytest.mark.timeout(60)
def test_a_catalog_cut_to_nothing_under_another_process_reading_it_is_rebuilt_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The catalog cut to 0 bytes while another process (an idle dashboard) keeps it open:
    the writer's next run is archived in seconds, the catalog rebuilt once and named as cut
    (the other process's locks on the WAL made each attempt to open it wait 30 s: the
    service archived one file in 90 s and logged nothing)."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    service = TrainingArchiveManager(root)
    assert len(service.list_runs()) == 3
    reading = "import sys; from gating import TrainingArchiveManager as M\n" + (
        "m = M(sys.argv[1]); m.list_runs(); print('open', flush=True); sys.stdin.read()"
    )
    dashboard = subprocess.Popen(
        [sys.executable, "-c", reading, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert dashboard.stdout is not None
        assert dashboard.stdout.readline() == b"open\n"
        with caplog.at_level(logging.WARNING):
            _truncate_catalog(root)
            began = time.monotonic()
            newest = service.archive_training_run(summary_bytes("after")).timestamp
            took = time.monotonic() - began
        assert took < 10, took
        assert [r["timestamp"] for r in service.list_runs()] == [*stamps, newest]
        errors = [
            getattr(r, "error", "") for r in caplog.records if r.getMessage() == "index_damaged"
        ]
        assert len(errors) == 1
        assert "cut to 0 bytes" in str(errors[0])
    finally:
        dashboard.communicate(timeout=30)
        service.close()


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "symbol null": lambda r: r["models"][0].update(symbol=None),
    "symbol a number": lambda r: r["models"][0].update(symbol=5),
    "classification null": lambda r: r["models"][0].update(classification=None),
    "classification unknown": lambda r: r["models"][0].update(classification="MAYBE"),
    "flags a string": lambda r: r["models"][0].update(flags="abc"),
    "flag unknown": lambda r: r["models"][0].update(flags=["nope"]),
    "fitness a string": lambda r: r["models"][0]["metrics"]["fitness"].update(value="abc"),
    "fitness true": lambda r: r["models"][0]["metrics"]["fitness"].update(value=True),
    "use_checkpoint a string": lambda r: r["models"][0].update(use_checkpoint="yes"),
    "best_idx a float": lambda r: r["models"][0].update(best_idx=1.5),
    "checkpoint_step a string": lambda r: r["models"][0].update(checkpoint_step="7"),
    "count negative": lambda r: r["counts"].update(APPROVED=-1),
    "count 2^70": lambda r: r["counts"].update(REVIEW=2**70),
    "count null": lambda r: r["counts"].update(DROP=None),
    "run_id a list": lambda r: r.update(run_id=["x"]),
    "models an object": lambda r: r.update(models={"a": 1}),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_record_edited_into_wrong_field_types_is_a_damaged_run(tmp_path: Path, edit: str) -> None:
    """A run record edited by hand so that a field has another type (a null symbol, an
    unknown flag, a count past 2^63) is a damaged run: reindex skips and reports it, and
    reading it is one ArchiveError line (a null symbol failed every rebuild of the
    catalog, so every query and page answered 503; a bad flag made the run's page a 500)."""
    root = tmp_path / "archive"
    _, stamps = _archive(root)
    record_path = root / stamps[1] / "model_assessments.json"
    record = json.loads(record_path.read_text("utf-8"))
    EDITS[edit](record)
    record_path.write_text(json.dumps(record), "utf-8")
    manager = TrainingArchiveManager(root)
    assert manager.reindex() == 2
    ((damaged, why),) = manager.reader.damaged_runs()
    assert damaged == stamps[1]
    assert why.startswith("model_assessments.json: ")
    assert [r["timestamp"] for r in manager.list_runs()] == [stamps[0], stamps[2]]
    with pytest.raises(ArchiveError, match="unreadable run record"):
        manager.reader.get_run(stamps[1])
