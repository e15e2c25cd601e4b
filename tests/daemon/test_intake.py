"""Tests for daemon.intake: what becomes of each file (its safe read: test_reading)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from daemon import intake
from daemon.intake import ingest, ingest_bytes, ingest_many
from gating import TrainingArchiveManager
from gating.archive.catalog import Catalog
from gating.archive.commit import PreparedRun
from gating.archive.layout import Layout
from gating.archive.writer import ArchiveWriter
from gating.rules import ModelGatingConfig
from gating.run import ArchivedRun
from tests.conftest import summary_bytes
from tests.faulty_disk import FaultyDisk


@pytest.fixture
def manager(tmp_path: Path) -> TrainingArchiveManager:
    """A manager with a small max_file_bytes."""
    return TrainingArchiveManager(tmp_path / "archive", max_file_bytes=4096)


def test_ingest_outcomes(tmp_path: Path, manager: TrainingArchiveManager) -> None:
    """Archived, duplicate, rejected (copied with reason), skipped-unchanged and skipped-special."""
    good = tmp_path / "a_summary.json"
    good.write_bytes(summary_bytes())
    first = ingest(manager, good)
    assert first.kind == "archived"
    assert first.run is not None
    assert first.run.approved_count == 1
    assert ingest(manager, good).kind == "duplicate"

    bad = tmp_path / "bad_summary.json"
    bad.write_text('{"models": {}}')
    rejected: set[str] = set()
    outcome = ingest(manager, bad, rejected)
    assert (outcome.kind, outcome.reason) == ("rejected", "models: no models")
    reasons = list(manager.rejected_dir.glob("*.reason.json"))
    assert json.loads(reasons[0].read_text())["source"] == str(bad)
    assert ingest(manager, bad, rejected).kind == "skipped"
    assert len(list(manager.rejected_dir.glob("*.reason.json"))) == 1

    os.mkfifo(tmp_path / "f_summary.json")
    assert ingest(manager, tmp_path / "f_summary.json").kind == "skipped"
    assert ingest(manager, tmp_path / "gone_summary.json").kind == "failed"


def test_oversize_file_is_rejected_without_a_copy(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """An oversize file gets a reason file but its bytes are not copied."""
    big = tmp_path / "big_summary.json"
    big.write_bytes(b"{" + b" " * 5000 + b"}")
    assert ingest(manager, big).kind == "rejected"
    assert [p.name.endswith(".reason.json") for p in manager.rejected_dir.iterdir()] == [True]


def test_an_oversize_file_is_rejected_once_across_restarts(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """A file too large to read is remembered by its name, size and time (there is no
    sha256): a restart skips it, one grown or rewritten is rejected again (each restart
    rejected it, with a new copy of the reason and a new event)."""
    big = tmp_path / "big_summary.json"
    big.write_bytes(b"{" + b" " * 5000 + b"}")
    assert ingest(manager, big, manager.writer.rejected_keys()).kind == "rejected"
    for _ in range(2):  # two restarts: each reads what was rejected from the disk
        again = ingest(manager, big, manager.writer.rejected_keys())
        assert (again.kind, again.reason) == ("skipped", "rejected before and unchanged")
    other = tmp_path / "other_summary.json"
    other.write_bytes(big.read_bytes())
    assert ingest(manager, other, manager.writer.rejected_keys()).kind == "rejected"
    big.write_bytes(b"{" + b" " * 6000 + b"}")
    rejected = manager.writer.rejected_keys()
    assert ingest(manager, big, rejected).kind == "rejected"
    assert ingest(manager, big, rejected).kind == "skipped"  # remembered in the process too
    big.write_bytes(b"[" + b" " * 6000 + b"]")  # the same size, rewritten later
    later = big.stat().st_mtime_ns + 1_000_000
    os.utime(big, ns=(later, later))
    assert ingest(manager, big, manager.writer.rejected_keys()).kind == "rejected"
    assert len(list(manager.rejected_dir.glob("*.reason.json"))) == 4


@pytest.mark.parametrize("cut", [0, 1, 100, -1])
def test_a_file_cut_short_is_incomplete_when_it_may_wait(
    tmp_path: Path, manager: TrainingArchiveManager, cut: int
) -> None:
    """Empty or cut short: incomplete (nothing written) if it may wait, else rejected;
    whole: archived (a writer between its writes)."""
    path = tmp_path / "slow_summary.json"
    data = summary_bytes("slow")
    path.write_bytes(data[:cut])
    [waiting] = ingest_many(manager, [path], set(), {path})
    assert (waiting.kind, waiting.reason is not None) == ("incomplete", True)
    assert not manager.rejected_dir.exists()
    [settled] = ingest_many(manager, [path], set(), {tmp_path / "other_summary.json"})
    assert settled.kind == "rejected"
    path.write_bytes(data)
    [whole] = ingest_many(manager, [path], set(), {path})
    assert whole.kind == "archived"


def test_a_file_too_large_may_wait_too(tmp_path: Path, manager: TrainingArchiveManager) -> None:
    """A file past max_file_bytes may still be growing: incomplete if it may wait, then
    rejected once (each piece past the limit was rejected again)."""
    path = tmp_path / "big_summary.json"
    path.write_bytes(b"{" + b" " * 5000)
    rejected: set[str] = set()
    assert next(ingest_many(manager, [path], rejected, {path})).kind == "incomplete"
    assert next(ingest_many(manager, [path], rejected)).kind == "rejected"
    assert next(ingest_many(manager, [path], rejected, {path})).kind == "skipped"


def test_a_file_wrong_before_its_end_is_rejected_at_once(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """Only a file cut short is waited for: one wrong in its middle is rejected at once."""
    path = tmp_path / "bad_summary.json"
    path.write_bytes(b'{"models": {"AAPL": 1,}}')
    [outcome] = ingest_many(manager, [path], set(), {path})
    assert outcome.kind == "rejected"


def test_ingest_many_keeps_order_and_outcomes(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """ingest_many gives the same outcomes as ingest, in the order of the paths."""
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}_summary.json"
        path.write_bytes(summary_bytes(f"r{i}") if i != 3 else b"{broken")
        paths.append(path)
    paths.append(paths[0])  # the same file again: a duplicate
    paths.append(tmp_path / "missing_summary.json")
    outcomes = list(ingest_many(manager, paths, set()))
    assert [o.source for o in outcomes] == paths
    kinds = ["archived"] * 3 + ["rejected"] + ["archived"] * 2 + ["duplicate", "failed"]
    assert [o.kind for o in outcomes] == kinds
    stamps = [o.timestamp or "" for o in outcomes if o.kind == "archived"]
    assert stamps == sorted(stamps)
    assert len(manager.list_runs()) == 5


def _summaries(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = tmp_path / f"{i}_summary.json"
        path.write_bytes(summary_bytes(f"r{i}"))
        paths.append(path)
    return paths


def test_a_group_ends_once_its_summaries_hold_group_bytes(
    tmp_path: Path, manager: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group is committed once its summaries hold GROUP_BYTES, not only at GROUP_SIZE
    files (four of the largest summaries took 160 s as one group: a stalled worker)."""
    paths = _summaries(tmp_path, 5)
    monkeypatch.setattr(intake, "GROUP_BYTES", 2 * paths[0].stat().st_size)
    groups: list[int] = []
    commit_many = manager.commit_many

    def counted(runs: Sequence[PreparedRun]) -> list[ArchivedRun]:
        groups.append(len(runs))
        return commit_many(runs)

    monkeypatch.setattr(manager, "commit_many", counted)
    outcomes = list(ingest_many(manager, paths, set()))
    assert [o.kind for o in outcomes] == ["archived"] * 5
    assert groups == [2, 2, 1]


def test_failed_group_is_committed_file_by_file(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """A disk error that fails a group once leaves each file to be committed on its own."""
    faulty = FaultyDisk(fail_at="archive:staged", fail_times=1)
    manager = TrainingArchiveManager(manager.archive_dir, disk=faulty)
    outcomes = list(ingest_many(manager, _summaries(tmp_path, 4), set()))
    assert faulty.failed == 1
    assert [o.kind for o in outcomes] == ["archived"] * 4
    assert len(manager.list_runs()) == 4


def test_busy_archive_fails_the_group_at_once(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """While another writer holds the lock, a group fails once, not once per file."""
    manager = TrainingArchiveManager(manager.archive_dir, lock_timeout=0.2)
    holder = ArchiveWriter(
        Layout(manager.archive_dir), Catalog(manager.catalog_path), ModelGatingConfig()
    )
    with holder.writer_lock():
        started = time.monotonic()
        outcomes = list(ingest_many(manager, _summaries(tmp_path, 4), set()))
        waited = time.monotonic() - started
    assert [o.kind for o in outcomes] == ["failed"] * 4
    assert all("another writer" in str(o.reason) for o in outcomes)
    assert waited < 4 * 0.2


@pytest.mark.timeout(60)
def test_the_same_invalid_bytes_sent_at_once_are_kept_once(
    manager: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four requests with the same invalid bytes, all past their duplicate check before
    any is kept, keep one copy in _rejected/ and each is told why (there were four)."""
    senders = 4
    together = threading.Barrier(senders, timeout=30)
    looked_up = manager.reader.find_by_sha256

    def in_step(sha256: str) -> str | None:
        together.wait()  # every request has hashed its bytes and none has been kept yet
        return looked_up(sha256)

    monkeypatch.setattr(manager.reader, "find_by_sha256", in_step)
    kept: set[str] = set()
    with ThreadPoolExecutor(senders) as pool:
        sent = [
            pool.submit(ingest_bytes, manager, b'{"models": 1}', "api", kept)
            for _ in range(senders)
        ]
        outcomes = [future.result() for future in sent]
    assert {(o.kind, o.reason) for o in outcomes} == {("rejected", outcomes[0].reason)}
    assert outcomes[0].reason
    assert manager.writer.rejected_count() == 1


def test_ingest_skips_a_file_outside_the_watched_folders_and_keeps_nothing(
    tmp_path: Path, manager: TrainingArchiveManager
) -> None:
    """A rejectable file reached through a symlinked folder is skipped: neither archived
    nor copied into _rejected/ (a leak of a file outside the watched tree)."""
    watched, outside = tmp_path / "in", tmp_path / "outside"
    watched.mkdir()
    outside.mkdir()
    (outside / "bad_summary.json").write_bytes(b"secret, not JSON")
    (watched / "race").symlink_to(outside)
    path = watched / "race" / "bad_summary.json"
    [outcome] = ingest_many(manager, [path], set(), (), [watched])
    assert outcome.kind == "skipped"
    assert "outside the watched folders" in str(outcome.reason)
    assert not (manager.archive_dir / "_rejected").exists()
    assert next(ingest_many(manager, [path], set())).kind == "rejected"  # without: read
