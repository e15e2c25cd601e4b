"""Tests for tests.faulty_disk: steps armed by pattern, and the real disk's steps pass."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from gating.archive.disk import DISK
from tests.faulty_disk import FaultyDisk


def test_the_real_disk_passes_every_step(tmp_path: Path) -> None:
    """The production disk writes the file and does nothing at a step."""
    DISK.step("write:summary.json:written")
    DISK.write(tmp_path / "f", b"data")
    assert (tmp_path / "f").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("pattern", "step", "fails"),
    [
        ("write:*", "write:summary.json:written", True),
        ("write:*", "archive:staged", False),
        ("archive:staged", "archive:staged", True),
        ("archive:staged", "archive:staged2", False),
    ],
)
def test_fail_at_matches_by_pattern(pattern: str, step: str, fails: bool) -> None:
    """A matching step raises ENOSPC; another passes."""
    disk = FaultyDisk(fail_at=pattern)
    if fails:
        with pytest.raises(OSError, match="No space left") as caught:
            disk.step(step)
        assert caught.value.errno == errno.ENOSPC
    else:
        disk.step(step)


def test_a_failing_write_leaves_no_file(tmp_path: Path) -> None:
    """ENOSPC at a write's own step: the write raises, and neither file nor temp is left."""
    disk = FaultyDisk(fail_at="write:f:written")
    with pytest.raises(OSError, match="No space left"):
        disk.write(tmp_path / "f", b"data")
    assert list(tmp_path.iterdir()) == []


def test_fail_times_lets_the_disk_recover() -> None:
    """With fail_times=2 the step fails twice, then passes."""
    disk = FaultyDisk(fail_at="x", fail_times=2)
    outcomes = []
    for _ in range(4):
        try:
            disk.step("x")
            outcomes.append("ok")
        except OSError:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "ok", "ok"]


def test_crash_at_ends_the_process_with_86() -> None:
    """A crash step ends the process at once with status 86."""
    script = "from tests.faulty_disk import FaultyDisk as D\nD(crash_at='p').step('p')\nprint('x')"
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, check=False, capture_output=True, timeout=60)
    assert done.returncode == 86
    assert b"x" not in done.stdout
