"""Cost against archive size: 1,000 / 10,000 / 100,000 runs of 5 symbols each.

For each size it reports the median cost of archiving one more run (against an empty
archive's, in the same run), `gatewatch history SYM` and `gatewatch approved` as cold
processes, `gatewatch reindex` in runs/s, and `gatewatch run` from start to READY with
10,000 already-archived files in the watched folder, with the daemon's peak RSS once it
has gone through them.

    python -m benchmarks.scale                       # 1000 10000 100000
    python -m benchmarks.scale --sizes 200 --json    # the smoke run CI does

Archives are built through the library with fsync switched off in the builder process
only (building 100,000 runs durably would take as long as the measurement is worth); every
figure reported is measured with real fsyncs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, start_daemon
from gating import TrainingArchiveManager

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN")
WATCHED_FILES = int(os.environ.get("GATEWATCH_BENCH_WATCHED", "10000"))


def summary(index: int, rng: random.Random) -> bytes:
    """A run of the five symbols with 20-point histories."""
    models = {
        symbol: {
            "fitness": round(rng.uniform(0.3, 0.95), 5),
            "profit_factor": round(rng.uniform(1.0, 3.0), 5),
            "consistency": round(rng.uniform(0.5, 1.0), 5),
            "max_drawdown": round(rng.uniform(0.01, 0.2), 5),
            "fitness_history": [round(rng.uniform(0.3, 0.95), 5) for _ in range(20)],
        }
        for symbol in SYMBOLS
    }
    return json.dumps({"run_id": f"scale-{index:07d}", "validation_interval": 1000,
                       "models": models}).encode()  # fmt: skip


def build(root: Path, runs: int) -> list[bytes]:
    """An archive of ``runs`` runs (fsync off in this process while building), compacted."""
    rng = random.Random(runs)
    real_fsync = os.fsync
    os.fsync = lambda fd: None
    try:
        manager = TrainingArchiveManager(root)
        raws = [summary(i, rng) for i in range(runs)]
        for raw in raws:
            manager.archive_training_run(raw)
        manager.compact()
    finally:
        os.fsync = real_fsync
    return raws


def one_more_ms(big: Path, small: Path, extra: int = 41) -> tuple[float, float]:
    """Median ms to archive one more run into ``big`` and into ``small`` (real fsyncs).

    The two are interleaved, one run each in turn, so the disk's ups and downs hit both.
    """
    managers = [TrainingArchiveManager(big), TrainingArchiveManager(small)]
    rng = random.Random(-1)
    for manager in managers:
        manager.archive_training_run(summary(10**8 + rng.randrange(10**8), rng))  # warm up
    times: list[list[float]] = [[], []]
    for _ in range(extra):
        for which, manager in enumerate(managers):
            raw = summary(10**8 + rng.randrange(10**8), rng)
            started = time.perf_counter()
            manager.archive_training_run(raw)
            times[which].append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def timed(command: list[str]) -> float:
    """Seconds for one cold process."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def daemon_figures(where: Path, raws: list[bytes]) -> dict[str, float]:
    """Start to READY with 10,000 archived files watched; peak RSS once they are done."""
    inbox = where / "in"
    inbox.mkdir()
    for i in range(WATCHED_FILES):
        folder = inbox / f"job-{i // 1000:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}_summary.json").write_bytes(raws[i % len(raws)])
    started = time.perf_counter()
    daemon, reader = start_daemon(where)
    try:
        ready = drained = float("nan")
        while drained != drained or ready != ready:
            # Files archived before are summed up in one line once all were checked.
            event = reader.next_event("daemon_ready", "startup_backlog_done", timeout=300)
            if event["event"] == "daemon_ready":
                ready = time.perf_counter() - started
            else:
                assert event["already_archived"] == WATCHED_FILES, event
                drained = time.perf_counter() - started
        rss = peak_rss_mb(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    return {"ready_s": round(ready, 2), "backlog_checked_s": round(drained, 2),
            "peak_rss_mb": round(rss, 1)}  # fmt: skip


def measure(size: int, where: Path) -> dict[str, Any]:
    """All figures for one archive size."""
    archive = where / "archive"
    began = time.perf_counter()
    raws = build(archive, size)
    build_s = time.perf_counter() - began
    (where / "config.toml").write_text('[archive]\ndir = "archive"\n', "utf-8")
    cli = [*gatewatch_command(), "--config", str(where / "config.toml")]
    history = timed([*cli, "history", "AAPL", "--json"])
    approved = timed([*cli, "approved", "--json"])
    reindex = timed([*cli, "reindex"])
    more, empty_ms = one_more_ms(archive, where / "empty-archive")
    result = {
        "runs": size,
        "build_s": round(build_s, 1),
        "one_more_run_ms": round(more, 2),
        "empty_archive_one_more_run_ms": round(empty_ms, 2),
        "one_more_vs_empty": round(more / empty_ms, 2),
        "history_cold_s": round(history, 3),
        "approved_cold_s": round(approved, 3),
        "reindex_runs_per_s": round(size / reindex, 0),
    }
    result.update(daemon_figures(where, raws))
    return result


def main() -> int:
    """Parse the arguments, measure each size, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    root = Path(tempfile.mkdtemp(prefix="gatewatch-scale-"))
    try:
        for size in args.sizes:
            where = root / str(size)
            where.mkdir()
            results.append(measure(size, where))
            shutil.rmtree(where, ignore_errors=True)
            if not args.json:
                print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps({"sizes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
