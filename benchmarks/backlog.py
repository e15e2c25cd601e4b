"""Backlog: files already waiting when `gatewatch run` starts, archived at what rate?

Writes N new summaries (10 symbols, 50-point histories) into the watched folder, starts
the daemon, and times start -> every run_archived. The bare durable loop of
benchmarks.throughput runs over the same summaries in the same run for comparison.

    python -m benchmarks.backlog                 # 10,000 files
    python -m benchmarks.backlog -n 100 --json   # a smoke run

Running it again and again? Add --keep and delete the folders afterwards: on ext4 without
a journal, creating files is slow for minutes after many were deleted (see the README).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import run_main, start_daemon
from benchmarks.throughput import bare_seconds, make_summaries, run_sizes
from gating import TrainingArchiveManager


def measure(count: int, where: Path) -> dict[str, Any]:
    """Archive a backlog of ``count`` files with the daemon; time the bare loop too."""
    summaries = make_summaries(count, seed=7)
    inbox = where / "in"
    an_hour_ago = time.time() - 3600  # a real backlog is older than settle_seconds
    for index, raw in enumerate(summaries):
        folder = inbox / f"job-{index // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:06d}_summary.json"
        path.write_bytes(raw)
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.sync()  # a backlog has been on disk for a while: none of our flushes is its
    bare_before = bare_seconds(where / "bare-before", summaries, (30_000, 8_000))
    started = time.perf_counter()
    daemon, reader = start_daemon(where)
    try:
        for _ in range(count):
            reader.next_event("run_archived", timeout=600)
        daemon_s = time.perf_counter() - started
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    # The daemon cannot be interleaved in chunks: time the bare loop before and after it.
    sizes = run_sizes(TrainingArchiveManager(where / "archive"))
    bare_s = (bare_before + bare_seconds(where / "bare-after", summaries, sizes)) / 2
    return {
        "files": count,
        "daemon_seconds": round(daemon_s, 2),
        "daemon_runs_per_s": round(count / daemon_s, 1),
        "bare_seconds": round(bare_s, 2),
        "bare_runs_per_s": round(count / bare_s, 1),
        "ratio_bare_over_ours": round(bare_s / daemon_s, 3),
    }


def main() -> int:
    """Parse the arguments, measure, print."""
    return run_main(
        __doc__,
        lambda args, where: measure(args.n, where),
        lambda parser: parser.add_argument("-n", type=int, default=10_000, help="waiting files"),
    )


if __name__ == "__main__":
    sys.exit(main())
