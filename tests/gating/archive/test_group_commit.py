"""Tests for gating.archive.group_commit: when a commit folds index.json."""

from __future__ import annotations

import json
from pathlib import Path

from gating import TrainingArchiveManager
from tests.conftest import summary_bytes


def _listed(archive: TrainingArchiveManager) -> int:
    """How many runs index.json lists now (0 when there is none)."""
    if not archive.index_path.exists():
        return 0
    return len(json.loads(archive.index_path.read_text("utf-8"))["runs"])


def test_runs_one_at_a_time_fold_while_tiny_then_each_time_the_index_doubles(
    tmp_path: Path,
) -> None:
    """index.json follows each of the first 16 runs, then is written again each time the
    runs it lacks are as many as it lists (32, 64)."""
    archive = TrainingArchiveManager(tmp_path / "a")
    listed = []
    for i in range(70):
        archive.archive_training_run(summary_bytes(f"r{i}", symbols=1))
        listed.append(_listed(archive))
    assert listed[:16] == list(range(1, 17))
    assert sorted(set(listed)) == [*range(1, 17), 32, 64]
    assert listed.index(32) == 31
    assert listed.index(64) == 63
    archive.close()
    assert _listed(archive) == 70


def test_a_compaction_by_another_writer_is_seen_before_folding(tmp_path: Path) -> None:
    """After another writer compacted, folds count from what index.json lists then."""
    archive = TrainingArchiveManager(tmp_path / "a")
    for i in range(20):
        archive.archive_training_run(summary_bytes(f"r{i}", symbols=1))
    assert _listed(archive) == 16
    with TrainingArchiveManager(tmp_path / "a") as other:
        for i in range(20, 40):
            other.archive_training_run(summary_bytes(f"r{i}", symbols=1))
    assert _listed(archive) == 40  # the other writer folded all on close
    for i in range(40, 52):  # 12 new runs, fewer than the 16 this writer thought were listed
        archive.archive_training_run(summary_bytes(f"r{i}", symbols=1))
    assert _listed(archive) == 40
    archive.close()
    assert _listed(archive) == 52
