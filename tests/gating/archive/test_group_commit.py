"""Tests for gating.archive.group_commit: when a commit folds index.json, and a catalog
found damaged by a commit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gating import ArchiveError, SummaryError, TrainingArchiveManager
from gating.archive import commit
from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.commit import prepare_run
from gating.archive.disk import DISK
from gating.archive.group_commit import GroupCommitter
from gating.archive.layout import Layout
from gating.archive.recovery import DamageLog
from gating.thresholds import ModelGatingConfig
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


class DamagedOnce(Catalog):
    """A catalog whose first add_runs finds it damaged (a disk gone bad under it)."""

    failed = False

    def add_runs(self, entries: Sequence[dict[str, Any]]) -> None:
        """Fail once, as a malformed file does; then add as usual."""
        if not self.failed:
            self.failed = True
            raise CatalogDamagedError(f"{self.path}: database disk image is malformed")
        super().add_runs(entries)


def test_a_catalog_a_commit_finds_damaged_is_rebuilt_followed_by_the_hook(
    tmp_path: Path,
) -> None:
    """The commit rebuilds the catalog from the run folders, its own new one included, and
    the hook it was given follows that rebuild."""
    layout = Layout(tmp_path / "a")
    with TrainingArchiveManager(layout.root, durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(2))
    calls: list[tuple[int, int]] = []
    catalog = DamagedOnce(layout.catalog)
    committer = GroupCommitter(
        layout, catalog, DamageLog(), lambda done, total: calls.append((done, total))
    )
    config = ModelGatingConfig()
    prepared = [prepare_run(summary_bytes("r2"), config, max_bytes=1 << 20)]
    (run,) = committer.commit(prepared, disk=DISK, durable=False, outbox=None, fold=False)
    assert catalog.failed
    assert calls == [(3, 3)]
    assert catalog.latest() == run.timestamp


def test_a_fault_in_gating_or_rendering_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary whose gating fails in a way the rules never meant (a bug, a number they
    never met) is a SummaryError, and one whose report cannot be rendered an ArchiveError;
    neither leaves a run folder or a staging folder (either error killed the service's
    worker at every start)."""
    manager = TrainingArchiveManager(tmp_path / "archive")

    def fails(*_args: object, **_kwargs: object) -> object:
        raise ZeroDivisionError("float division by zero")

    with monkeypatch.context() as patch:
        patch.setattr(commit, "gate_models", fails)
        with pytest.raises(SummaryError, match=r"cannot be gated \(ZeroDivisionError"):
            manager.archive_training_run(summary_bytes("gated"))
    with monkeypatch.context() as patch:
        patch.setattr(commit, "render_recommendations", fails)
        with pytest.raises(ArchiveError, match=r"run 'drawn': cannot be rendered"):
            manager.archive_training_run(summary_bytes("drawn"))
    written = [p.name for p in manager.archive_dir.iterdir()]
    assert [n for n in written if n[:1].isdigit() or n.startswith(".staging")] == []
    assert manager.archive_training_run(summary_bytes("drawn")).run_id == "drawn"
