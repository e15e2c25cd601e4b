"""Drop-to-archived latency of `gatewatch run` for files that arrive by rename or close.

Starts the real daemon with settle_seconds at its default (1.0 s, so the settle timer is
not what makes it fast), drops files one at a time, alternating an atomic rename and a
plain write-and-close, and reads each run_archived log line's time.

    python -m benchmarks.latency                 # 200 drops
    python -m benchmarks.latency -n 20 --json    # the smoke run CI does
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.throughput import make_summaries


def gatewatch_command() -> list[str]:
    """The installed `gatewatch` script, or the module from a bare checkout."""
    script = shutil.which("gatewatch")
    return [script] if script else [sys.executable, "-m", "daemon.cli"]


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


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def measure(count: int, where: Path) -> dict[str, Any]:
    """Start the daemon in ``where``, drop ``count`` files, return the latency figures."""
    inbox, staging = where / "in", where / "producer"
    inbox.mkdir()
    staging.mkdir()
    (where / "config.toml").write_text(
        '[watch]\npaths = ["in"]\n[archive]\ndir = "archive"\n[logging]\nformat = "json"\n',
        "utf-8",
    )
    log_path = where / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*gatewatch_command(), "run", "--config", str(where / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    reader = LogReader(log_path)
    try:
        reader.next_event("daemon_ready", timeout=30)
        latencies: dict[str, list[float]] = {"rename": [], "close": []}
        for index, raw in enumerate(make_summaries(count)):
            name = f"{index:05d}_summary.json"
            style = "rename" if index % 2 == 0 else "close"
            if style == "rename":
                (staging / name).write_bytes(raw)
                dropped = time.time()
                (staging / name).rename(inbox / name)
            else:
                with (inbox / name).open("wb") as handle:
                    handle.write(raw)
                    dropped = time.time()
            event = reader.next_event("run_archived", timeout=30)
            archived = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            latencies[style].append((archived - dropped) * 1000)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    every = latencies["rename"] + latencies["close"]
    result: dict[str, Any] = {"drops": len(every), "settle_seconds": 1.0}
    for label, values in (("all", every), *latencies.items()):
        result[f"{label}_p50_ms"] = round(statistics.median(values), 1)
        result[f"{label}_p95_ms"] = round(percentile(values, 0.95), 1)
        result[f"{label}_max_ms"] = round(max(values), 1)
    return result


def main() -> int:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200, help="files to drop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="gatewatch-latency-"))
    try:
        result = measure(args.n, where)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
