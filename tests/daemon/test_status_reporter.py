"""Tests for daemon.status_reporter: counting outcomes, knowing when archiving fails."""

from __future__ import annotations

from pathlib import Path

from daemon.intake import Outcome
from daemon.status import read_status
from daemon.status_reporter import StatusReporter
from gating import TrainingArchiveManager
from tests.conftest import make_summary


def test_reporter_knows_since_when_the_archive_fails(tmp_path: Path) -> None:
    """A failure of a file it read (so the archive's) starts the failing time, a later one
    keeps it, a file it could not read does not; an archived or rejected file ends it, and
    so does each failed file answering since or being deleted."""
    reporter = StatusReporter(tmp_path, interval=0)

    def failing_since() -> object:
        assert reporter.write("ready", 0)
        written = read_status(tmp_path)
        assert written is not None
        return written["archive_failing_since"]

    reporter.record(Outcome("failed", Path("a"), reason="cannot read: Permission denied"))
    assert failing_since() is None
    reporter.record(Outcome("failed", Path("b"), reason="No space left", sha256="1" * 64))
    began = failing_since()
    assert isinstance(began, str)
    reporter.record(Outcome("failed", Path("c"), reason="No space left", sha256="2" * 64))
    reporter.record(Outcome("duplicate", Path("d"), sha256="3" * 64))  # wrote nothing
    assert failing_since() == began
    reporter.record(Outcome("rejected", Path("e"), reason="not JSON", sha256="4" * 64))
    assert failing_since() is None
    # The file that failed answered since (its run was catalogued by recovery: a duplicate),
    # or was deleted: it says no more that the archive fails (the health stuck at failing).
    reporter.record(Outcome("failed", Path("f"), reason="No space left", sha256="5" * 64))
    reporter.record(Outcome("failed", Path("g"), reason="No space left", sha256="6" * 64))
    reporter.record(Outcome("duplicate", Path("f"), sha256="5" * 64))
    assert isinstance(failing_since(), str)  # g still fails
    reporter.forget(Path("g"))
    assert failing_since() is None


def test_reporter_counts_and_writes_atomically(tmp_path: Path) -> None:
    """Outcomes are counted; writes are throttled unless forced and leave no temp file."""
    manager = TrainingArchiveManager(tmp_path)
    run = manager.archive_training_run(make_summary())
    reporter = StatusReporter(tmp_path, interval=3600)
    reporter.record(Outcome("archived", Path("a"), run=run))
    reporter.record(Outcome("duplicate", Path("a")))
    reporter.record(Outcome("failed", Path("b"), reason="disk full"))
    assert reporter.write("ready", 2)
    assert not reporter.write("ready", 3)  # within the interval
    written = read_status(tmp_path)
    assert written is not None
    assert written["queue_depth"] == 2
    assert written["counters"]["archived"] == 1
    assert written["counters"]["approved"] == 1
    assert written["counters"]["failed"] == 1
    assert written["last_archive"]["timestamp"] == run.timestamp
    assert written["last_error"]["message"] == "b: disk full"
    assert reporter.write("stopped", 0, force=True)
    assert sorted(p.name for p in tmp_path.iterdir() if "status" in p.name) == ["status.json"]


def test_a_success_since_takes_its_failure_off_the_last_error(tmp_path: Path) -> None:
    """tell(event, None) clears the last error when it was that event's, not another's
    (a reload that failed, then succeeded, still showed as failing in `status`)."""
    reporter = StatusReporter(tmp_path)
    reporter.tell("config_reload_failed", "config.toml: the file is empty (being saved?)")
    assert reporter.last_error is not None
    reporter.tell("config_reload_failed", None)
    assert reporter.last_error is None
    reporter.error("observer_died", "the file-system observer stopped")
    reporter.tell("config_reload_failed", None)
    assert reporter.last_error is not None
    assert reporter.last_error["event"] == "observer_died"
