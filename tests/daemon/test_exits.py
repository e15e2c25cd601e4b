"""Tests for daemon.exits: one status per outcome, and the command line returns each."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.cli import main
from daemon.exits import EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE
from gating import TrainingArchiveManager
from tests.conftest import make_summary


def test_the_statuses_are_distinct() -> None:
    """Each outcome has its own status, and success is 0."""
    assert EXIT_OK == 0
    assert len({EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING}) == 4


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["runs"], EXIT_OK),
        (["decide", "20990101", "SYM1", "approve", "--reason", "r"], EXIT_FAILED),
        (["decide", "latest", "SYM1", "approve", "--reason", " "], EXIT_USAGE),
        (["--config", "missing.toml", "runs"], EXIT_USAGE),
        (["status"], EXIT_NOT_RUNNING),
    ],
)
def test_each_outcome_exits_with_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], status: int
) -> None:
    """A run, an unknown run, a blank reason, a missing config, no service: one status each."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    with TrainingArchiveManager(tmp_path / "training_archives") as archive:
        archive.archive_training_run(make_summary("a"))
    assert main(argv) == status
