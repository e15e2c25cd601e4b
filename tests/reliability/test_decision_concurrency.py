"""Decisions from real processes: two at once on one model, and while the daemon archives."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from gating import TrainingArchiveManager
from tests.conftest import summary_bytes
from tests.process import Daemon
from tests.reliability.checks import assert_consistent

pytestmark = pytest.mark.timeout(180)


def decide(config: Path, timestamp: str, verdict: str, who: str) -> subprocess.Popen[str]:
    """Start `gatewatch decide TIMESTAMP SYM1 VERDICT` as its own process."""
    return subprocess.Popen(
        [*gatewatch_command(), "--config", str(config), "decide", timestamp, "SYM1", verdict,
         "--reason", f"{who} says {verdict}", "--by", who],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> None:
    """Wait for a decide process; it must have succeeded."""
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith("decided: SYM1")


def assert_verdicts_follow_the_last_decision(root: Path, decided: int) -> None:
    """Every decision indexed once, in one order; the verdict and champion follow the last."""
    archive = TrainingArchiveManager(root)
    trail = archive.decisions()
    assert [d.seq for d in trail] == list(range(1, decided + 1))
    assert len({d.name for d in trail}) == decided == len(list((root / "decisions").iterdir()))
    assert [d.decided_at for d in trail] == sorted(d.decided_at for d in trail)
    for earlier, later in itertools.pairwise(trail):
        if (earlier.timestamp, earlier.symbol) == (later.timestamp, later.symbol):
            assert later.previous == earlier.verdict
    last = trail[-1]
    history = {h["timestamp"]: h for h in archive.get_symbol_history("SYM1")}
    assert history[last.timestamp]["verdict"] == last.verdict
    champion = archive.get_deployable().get("SYM1")
    assert (champion is not None) == (last.verdict == "APPROVED")
    before = (archive.decisions(), archive.get_deployable())
    archive.reindex()
    assert (archive.decisions(), archive.get_deployable()) == before


def test_two_decides_at_once_on_the_same_model(tmp_path: Path) -> None:
    """Pairs of processes deciding the same model at once: all kept, in one consistent order."""
    root = tmp_path / "archive"
    timestamp = TrainingArchiveManager(root).archive_training_run(summary_bytes("one")).timestamp
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\ndir = "{root}"\n', "utf-8")
    for _ in range(6):
        pair = [
            decide(config, timestamp, "approve", "ann"),
            decide(config, "latest", "drop", "bob"),
        ]
        for process in pair:
            finish(process)
    assert_verdicts_follow_the_last_decision(root, 12)


def test_decide_while_the_service_archives(daemon_factory: Callable[..., Daemon]) -> None:
    """Decisions while the daemon archives a stream of runs: no run and no decision lost."""
    daemon = daemon_factory().start()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.wait_for_event("run_archived", count=1, timeout=30)
    timestamp = daemon.run_folders()[0].name
    produced = ["first"]
    running: list[subprocess.Popen[str]] = []
    for i in range(12):
        produced.append(f"auto-{i:02d}")
        (daemon.inbox / f"auto-{i:02d}_summary.json").write_bytes(summary_bytes(produced[-1]))
        verdict = "approve" if i % 3 else "drop"
        running.append(decide(daemon.config_path, timestamp, verdict, f"p{i}"))
        if len(running) == 3:
            for process in running:
                finish(process)
            running.clear()
    for process in running:
        finish(process)
    daemon.wait_for_event("run_archived", count=len(produced), timeout=60)
    assert daemon.stop()[0] == 0
    assert_consistent(daemon.archive, produced)
    assert_verdicts_follow_the_last_decision(daemon.archive, 12)
