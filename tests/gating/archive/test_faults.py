"""Tests for gating.archive.faults: points armed by pattern, none by default."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from gating import NO_FAULTS, Faults


def test_no_faults_does_nothing() -> None:
    """The default object passes every point."""
    NO_FAULTS.hit("write:summary.json:written")
    assert not NO_FAULTS.active


@pytest.mark.parametrize(
    ("pattern", "point", "fails"),
    [
        ("write:*", "write:summary.json:written", True),
        ("write:*", "archive:staged", False),
        ("archive:staged", "archive:staged", True),
        ("archive:staged", "archive:staged2", False),
    ],
)
def test_fail_at_matches_by_pattern(pattern: str, point: str, fails: bool) -> None:
    """A matching point raises ENOSPC; another passes."""
    faults = Faults(fail_at=pattern)
    if fails:
        with pytest.raises(OSError, match="No space left") as caught:
            faults.hit(point)
        assert caught.value.errno == errno.ENOSPC
    else:
        faults.hit(point)


def test_fail_times_lets_the_disk_recover() -> None:
    """With fail_times=2 the point fails twice, then passes."""
    faults = Faults(fail_at="x", fail_times=2)
    outcomes = []
    for _ in range(4):
        try:
            faults.hit("x")
            outcomes.append("ok")
        except OSError:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "ok", "ok"]


def test_crash_at_ends_the_process_with_86() -> None:
    """A crash point ends the process at once with status 86."""
    script = "from gating import Faults; Faults(crash_at='p').hit('p'); print('survived')"
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, check=False, capture_output=True, timeout=60)
    assert done.returncode == 86
    assert b"survived" not in done.stdout
