"""Tests for gating.archive.reader and review: queries without the writer lock or the write path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gating import FileLock, RunNotFoundError, TrainingArchiveManager
from gating.archive.catalog import Catalog
from gating.archive.layout import Layout
from gating.archive.reader import ArchiveReader, run_query
from gating.archive.review import ReviewDesk
from tests.conftest import make_summary

_QUERY_ALONE = """
import sys
from pathlib import Path

import pytest
from gating.archive.catalog import Catalog
from gating.archive.layout import Layout
from gating.archive.reader import ArchiveReader, run_query
from gating.archive.review import ReviewDesk
layout = Layout(Path(sys.argv[1]))
catalog = Catalog(layout.catalog)
reader = ArchiveReader(layout, catalog, run_query)
review = ReviewDesk(layout, catalog, run_query, writer=None)
print(len(reader.list_runs()), len(review.get_deployable()), len(review.pending_reviews()))
loaded = [m for m in ("gating.archive.writer", "gating.archive.group_commit",
                      "gating.archive.commit", "gating.archive.recovery") if m in sys.modules]
print(loaded)
"""


def test_a_reader_answers_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    """A plain ArchiveReader answers what the manager answers, with the lock held elsewhere."""
    manager = TrainingArchiveManager(tmp_path / "a")
    manager.archive_training_run(make_summary("a"))
    manager.archive_training_run(make_summary("b"))
    manager.decide("latest", "SYM1", "approve", by="ann", reason="ok")
    layout = Layout(manager.archive_dir)
    holder = FileLock(layout.lock)
    assert holder.try_acquire()
    catalog = Catalog(layout.catalog)
    reader = ArchiveReader(layout, catalog, run_query)
    review = ReviewDesk(layout, catalog, run_query, writer=None)
    assert reader.list_runs() == manager.list_runs()
    assert review.get_deployable() == manager.get_deployable()
    assert review.decisions() == manager.decisions()
    assert reader.get_symbol_history("SYM1") == manager.get_symbol_history("SYM1")
    holder.release()
    holder.close()
    manager.close()


def test_a_reader_never_loads_the_write_path(tmp_path: Path) -> None:
    """Querying through ArchiveReader alone imports no writer, commit or recovery module."""
    manager = TrainingArchiveManager(tmp_path / "a")
    manager.archive_training_run(make_summary("a"))
    manager.close()
    done = subprocess.run(
        [sys.executable, "-c", _QUERY_ALONE, str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1 1 1", "[]"]


def test_a_run_folder_that_cannot_be_read_is_named_damaged(tmp_path: Path) -> None:
    """run_entry names a damaged folder as damaged, with why, before any reindex has seen
    it; get_approved_models does once the catalog lists it; a timestamp no folder has is
    still 'no archived run'."""
    manager = TrainingArchiveManager(tmp_path / "a")
    damaged = manager.archive_training_run(make_summary("a")).timestamp
    manager.archive_training_run(make_summary("b"))
    (manager.archive_dir / damaged / "model_assessments.json").write_bytes(b"[]")
    with pytest.raises(RunNotFoundError, match=f"run {damaged} is damaged.*list indices"):
        manager.reader.run_entry(damaged)
    manager.reindex()
    with pytest.raises(RunNotFoundError, match=f"run {damaged} is damaged"):
        manager.reader.get_approved_models(damaged)
    with pytest.raises(RunNotFoundError, match="no archived run has timestamp"):
        manager.reader.run_entry("20000101T000000000000Z")
    assert manager.reader.run_entry("not-a-timestamp") is None
