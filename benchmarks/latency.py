"""Drop-to-archived latency of `gatewatch run` for files that arrive by rename or close.

Starts the real daemon with settle_seconds at its default (1.0 s, so the settle timer is
not what makes it fast), drops files one at a time, alternating an atomic rename and a
plain write-and-close, and reads each run_archived log line's time.

    python -m benchmarks.latency                 # 200 drops
    python -m benchmarks.latency -n 20 --json    # the smoke run CI does
"""

from __future__ import annotations

import signal
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import run_main, start_daemon
from benchmarks.throughput import make_summaries


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def measure(count: int, where: Path) -> dict[str, Any]:
    """Start the daemon in ``where``, drop ``count`` files, return the latency figures."""
    inbox, staging = where / "in", where / "producer"
    inbox.mkdir()
    staging.mkdir()
    daemon, reader = start_daemon(where)
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
    return run_main(
        __doc__,
        lambda args, where: measure(args.n, where),
        lambda parser: parser.add_argument("-n", type=int, default=200, help="files to drop"),
    )


if __name__ == "__main__":
    sys.exit(main())
