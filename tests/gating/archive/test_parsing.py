"""Tests for gating.archive.parsing: records asked of the disk ahead of their turn, and a
parsing process under Ctrl-C and without its parent (reindex through them: test_rebuild.py)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gating import ArchiveError, TrainingArchiveManager
from gating.archive import parsing
from tests.conftest import summary_bytes


@pytest.mark.parametrize("count", [0, 1, parsing._READ_AHEAD, parsing._READ_AHEAD + 1, 100])
def test_each_record_is_asked_of_the_disk_read_ahead_names_before_its_turn(count: int) -> None:
    """Every name comes back in order, its record advised once and _READ_AHEAD names early."""
    names = [f"{i:03d}" for i in range(count)]
    advised: list[str] = []
    for position, name in enumerate(parsing._read_ahead(names, advised.append)):
        assert name == names[position]
        assert advised == names[: position + parsing._READ_AHEAD + 1]
    assert advised == names


@pytest.mark.timeout(60)
def test_a_parsing_process_ignores_ctrl_c_and_ends_quietly_when_its_parent_is_gone(
    tmp_path: Path,
) -> None:
    """Ctrl-C reaches the whole process group: the parsing process leaves it to its parent
    and goes on answering; once the parent stops reading, it exits 0 with nothing on stderr
    (it printed a KeyboardInterrupt or BrokenPipeError traceback under the parent's line)."""
    with TrainingArchiveManager(tmp_path / "a", durable=False) as manager:
        stamp = manager.archive_training_run(summary_bytes("r0")).timestamp
    child = subprocess.Popen(  # the command a reindex starts its parsing processes with
        [sys.executable, "-c", parsing._CHILD, parsing._HOME, str(tmp_path / "a")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stderr is not None
    pickle.dump([stamp], child.stdin)
    child.stdin.flush()
    (rows,) = pickle.load(child.stdout)
    assert isinstance(rows, parsing.RunRows)
    child.send_signal(signal.SIGINT)
    pickle.dump([stamp], child.stdin)
    child.stdin.flush()
    assert len(pickle.load(child.stdout)) == 1
    child.stdout.close()  # the parent is gone
    pickle.dump([stamp] * 200, child.stdin)
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    with child.stderr:
        assert child.stderr.read() == b""


@pytest.mark.timeout(60)
def test_a_record_the_parsing_process_cannot_read_now_is_its_answer(tmp_path: Path) -> None:
    """A record a parsing process may not read (mode 0, without root's override): it
    answers with the one-line error for the reindex to raise, nothing on stderr (it would
    have been taken for a damaged run)."""
    with TrainingArchiveManager(tmp_path / "a", durable=False) as manager:
        stamp = manager.archive_training_run(summary_bytes("r0")).timestamp
    record = tmp_path / "a" / stamp / "model_assessments.json"
    record.chmod(0)
    as_user = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    done = subprocess.run(
        [*as_user, sys.executable, "-c", parsing._CHILD, parsing._HOME, str(tmp_path / "a")],
        input=pickle.dumps([stamp]),
        capture_output=True,
        timeout=30,
        check=True,
    )
    answer = pickle.loads(done.stdout)
    assert isinstance(answer, ArchiveError)
    assert str(answer) == f"{record}: cannot be read now (Permission denied)"
    assert done.stderr == b""
