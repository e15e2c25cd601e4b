"""What the benchmark scripts share: starting `gatewatch run`, reading its log, printing."""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LogReader", "gatewatch_command", "load_average", "run_main", "start_daemon"]

CONFIG = '[watch]\npaths = ["in"]\n[archive]\ndir = "archive"\n[logging]\nformat = "json"\n'


def gatewatch_command() -> list[str]:
    """The `gatewatch` script installed for this interpreter, or the module from a bare
    checkout. Not the first `gatewatch` on PATH: that may be a version manager's shim (a
    pyenv shim is a shell script that adds ~60 ms to every start)."""
    script = Path(sysconfig.get_path("scripts")) / "gatewatch"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "daemon.cli"]


class LogReader:
    """Reads new JSON lines from the daemon's log file as they arrive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.waiting: collections.deque[dict[str, Any]] = collections.deque()

    def next_event(self, *names: str, timeout: float) -> dict[str, Any]:
        """The next event with one of these names; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            while self.waiting:
                event = self.waiting.popleft()
                if event["event"] in names:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {' or '.join(names)} within {timeout} s")
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1
            self.offset += end
            self.waiting.extend(json.loads(line) for line in chunk[:end].splitlines())
            if not end:
                time.sleep(0.001)


def start_daemon(where: Path) -> tuple[subprocess.Popen[bytes], LogReader]:
    """`gatewatch run` watching ``where``/in, archiving to ``where``/archive, JSON logs."""
    (where / "config.toml").write_text(CONFIG, "utf-8")
    log_path = where / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*gatewatch_command(), "run", "--config", str(where / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return daemon, LogReader(log_path)


def load_average() -> float:
    """The system's 1-minute load average (0.0 where the system does not report one)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return 0.0


def run_main(
    doc: str | None,
    measure: Callable[[argparse.Namespace, Path], dict[str, Any]],
    add_arguments: Callable[[argparse.ArgumentParser], object],
    passed: Callable[[dict[str, Any]], bool] = lambda _result: True,
) -> int:
    """Parse arguments, measure in a temp folder (removed after unless --keep), print text
    or --json; exit status 1 when ``passed`` says the result shows a failure."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    add_arguments(parser)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp folder (for runs back to back)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="gatewatch-bench-"))
    load_before = load_average()
    try:
        result = measure(args, where)
    finally:
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    # What else ran on the machine meanwhile, for the figures in the docs (the 1-minute
    # load average, which counts the benchmark's own processes too).
    result.setdefault("load_average_before", load_before)
    result["load_average_after"] = load_average()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    return 0 if passed(result) else 1
