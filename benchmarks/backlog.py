"""Backlog: files already waiting when `gatewatch run` starts, archived at what rate?

Writes N new summaries (10 symbols, 50-point histories) into the watched folder, starts
the daemon, and times start -> every run_archived. The bare durable loop of
benchmarks.throughput runs over the same summaries in the same run for comparison.

    python -m benchmarks.backlog                 # 10,000 files
    python -m benchmarks.backlog -n 100 --json   # a smoke run

The stall case (a backlog in many folders whose rescan takes longer than its interval,
and a file dropped while it is being archived; no bare loop):

    python -m benchmarks.backlog -n 50000 --folders 2241 --rescan-seconds 2 --drop --no-bare

Running it again and again? Add --keep and delete the folders afterwards: on ext4 without
a journal, creating files is slow for minutes after many were deleted (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CONFIG, LogReader, gatewatch_command, run_main
from benchmarks.throughput import bare_seconds, make_summaries, run_sizes
from gating import TrainingArchiveManager


def _start(where: Path, rescan_seconds: float | None) -> tuple[subprocess.Popen[bytes], LogReader]:
    """`gatewatch run` on ``where``/in -> ``where``/archive, with the rescan interval given."""
    schedule = "" if rescan_seconds is None else f"[schedule]\nrescan_seconds = {rescan_seconds}\n"
    (where / "config.toml").write_text(CONFIG + schedule, "utf-8")
    log_path = where / "daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*gatewatch_command(), "run", "--config", str(where / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return daemon, LogReader(log_path)


def _write_backlog(summaries: list[bytes], inbox: Path, folders: int) -> None:
    an_hour_ago = time.time() - 3600  # a real backlog is older than settle_seconds
    per_folder = -(-len(summaries) // folders)
    for index, raw in enumerate(summaries):
        folder = inbox / f"job-{index // per_folder:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:06d}_summary.json"
        path.write_bytes(raw)
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.sync()  # a backlog has been on disk for a while: none of our flushes is its


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """Archive a backlog of ``args.n`` files with the daemon; time the bare loop too."""
    count = args.n
    summaries = make_summaries(count + 1, seed=7)
    new_file = summaries.pop()
    _write_backlog(summaries, where / "in", args.folders)
    bare_before = 0.0
    if not args.no_bare:
        bare_before = bare_seconds(where / "bare-before", summaries, (30_000, 8_000))
    started = time.perf_counter()
    daemon, reader = _start(where, args.rescan_seconds)
    result: dict[str, Any] = {"files": count, "folders": args.folders}
    try:
        drop_at = count // 4 if args.drop else None
        dropped = 0.0
        archived = 0
        while archived < count + (1 if args.drop else 0):
            event = reader.next_event("run_archived", "startup_scan", timeout=120)
            if event["event"] == "startup_scan":  # files are archived while it goes on
                result["startup_scan_seconds"] = round(event["duration_ms"] / 1000, 2)
                continue
            archived += 1
            if archived == drop_at:
                (where / "in" / "new_summary.json").write_bytes(new_file)
                dropped = time.perf_counter()
            if args.drop and event["source"].endswith("/new_summary.json"):
                result["dropped_file_seconds"] = round(time.perf_counter() - dropped, 3)
                result["dropped_file_behind"] = count + 1 - archived
        daemon_s = time.perf_counter() - started
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    result["rescans_with_finds"] = sum(
        1
        for line in (where / "daemon.log").read_text("utf-8").splitlines()
        if "rescan_found" in line
    )
    result["daemon_seconds"] = round(daemon_s, 2)
    result["daemon_runs_per_s"] = round(count / daemon_s, 1)
    if args.no_bare:
        return result
    # The daemon cannot be interleaved in chunks: time the bare loop before and after it.
    sizes = run_sizes(TrainingArchiveManager(where / "archive"))
    bare_s = (bare_before + bare_seconds(where / "bare-after", summaries, sizes)) / 2
    result["bare_seconds"] = round(bare_s, 2)
    result["bare_runs_per_s"] = round(count / bare_s, 1)
    result["ratio_bare_over_ours"] = round(bare_s / daemon_s, 3)
    return result


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=int, default=10_000, help="waiting files")
    parser.add_argument("--folders", type=int, default=10, help="folders they are spread over")
    parser.add_argument("--rescan-seconds", type=float, help="[schedule].rescan_seconds")
    parser.add_argument("--drop", action="store_true", help="drop a new file a quarter in")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-loop comparison")


def main() -> int:
    """Parse the arguments, measure, print."""
    return run_main(__doc__, measure, _arguments)


if __name__ == "__main__":
    sys.exit(main())
