"""Tests for benchmarks.common: the command the benchmarks time."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.common import gatewatch_command


def test_the_timed_gatewatch_starts_this_interpreter_directly() -> None:
    """The benchmarks time the script installed for this Python (its first line names it),
    never a version manager's shim found first on PATH, against `sys.executable -c pass`."""
    command = gatewatch_command()
    if command[0] == sys.executable:
        assert command[1:] == ["-m", "daemon.cli"]
        return
    first_line = Path(command[0]).read_text("utf-8").splitlines()[0]
    assert Path(first_line.removeprefix("#!").strip()).resolve() == Path(sys.executable).resolve()
