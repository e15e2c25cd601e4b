"""Tests for daemon.outcome_log: the one line the service logs for each file handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.intake import Outcome
from daemon.outcome_log import log_failure, log_outcome
from gating import TrainingArchiveManager
from tests.conftest import make_summary
from tests.daemon.fakes import FakeLog

SOURCE = Path("/inbox/a_summary.json")


@pytest.mark.parametrize(
    ("outcome", "quiet", "level", "event"),
    [
        (
            Outcome("duplicate", SOURCE, timestamp="t", sha256="s"),
            False,
            "info",
            "duplicate_skipped",
        ),
        (
            Outcome("duplicate", SOURCE, timestamp="t", sha256="s"),
            True,
            "debug",
            "duplicate_skipped",
        ),
        (Outcome("rejected", SOURCE, reason="models: missing"), False, "warning", "file_rejected"),
        (Outcome("skipped", SOURCE, reason="a FIFO"), False, "debug", "file_skipped"),
    ],
)
def test_each_outcome_is_one_line_at_its_level(
    outcome: Outcome, quiet: bool, level: str, event: str
) -> None:
    """Each kind of outcome is one event at its level, naming the file."""
    log = FakeLog()
    log_outcome(log, outcome, quiet=quiet)
    [(logged_level, logged_event, fields)] = log.events
    assert (logged_level, logged_event, fields["source"]) == (level, event, str(SOURCE))


def test_an_archived_run_says_its_counts_and_approved_symbols(tmp_path: Path) -> None:
    """run_archived carries the run's timestamp, id, counts and approved symbols."""
    run = TrainingArchiveManager(tmp_path / "a").archive_training_run(make_summary("r", 3))
    log = FakeLog()
    log_outcome(log, Outcome("archived", SOURCE, run=run, duration_ms=1.5), quiet=True)
    [fields] = log.named("run_archived", "info")
    assert fields["timestamp"] == run.timestamp
    assert (fields["approved"], fields["review"], fields["dropped"]) == (
        run.approved_count,
        run.review_count,
        run.dropped_count,
    )
    assert fields["approved_symbols"] == run.approved


@pytest.mark.parametrize(("news", "level"), [(True, "error"), (False, "debug")])
def test_a_failure_is_an_error_only_when_it_is_news(news: bool, level: str) -> None:
    """archive_failed is an error the first time, debug while the same failure repeats."""
    log = FakeLog()
    log_failure(log, Outcome("failed", SOURCE, reason="disk full"), 5.0, 2, news=news)
    [fields] = log.named("archive_failed", level)
    assert (fields["retry_in_s"], fields["attempts"], fields["reason"]) == (5.0, 2, "disk full")


@pytest.mark.parametrize(("symbols", "more"), [(300, None), (303, 1)])
def test_a_run_with_many_approved_symbols_names_the_first_hundred(
    tmp_path: Path, symbols: int, more: int | None
) -> None:
    """run_archived names at most 100 approved symbols and how many more there are (a run
    of 100,000 symbols made a 989 KB line, which journald splits)."""
    run = TrainingArchiveManager(tmp_path / "a").archive_training_run(make_summary("r", symbols))
    log = FakeLog()
    log_outcome(log, Outcome("archived", SOURCE, run=run), quiet=True)
    [fields] = log.named("run_archived", "info")
    assert fields["approved_symbols"] == run.approved[:100]
    assert fields.get("approved_symbols_more") == more
