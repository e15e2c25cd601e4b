"""Cost against archive size: 1,000 / 100,000 / 1,000,000 runs of 10 symbols out of 500.

For each size it reports, each as a cold `gatewatch` process (median of several runs, the
commands taking turns), the queries `history SYM --last 50`, `history SYM` in full (and
records streamed per second), `approved`, `runs --last 20` and `deployable`, each also
against a bare `python -c pass` timed in the same turns (the floor no cold process goes
under; target: within 3x); the cost of archiving one more run (against an empty
archive's, in the same run); `gatewatch reindex` in runs/s; `gatewatch compact`
(index.json written from the catalog) with its peak RSS; and `gatewatch run` from start to
READY with its peak RSS. Every query figure is also given against the smallest size's.

    python -m benchmarks.scale                       # 1000 100000 1000000
    python -m benchmarks.scale --sizes 200 --json    # the smoke run CI does
    python -m benchmarks.scale --root /var/tmp/scale # keep the archives, reuse them next time
    python -m benchmarks.scale --deployable 1000 1000000   # `deployable` cold, by size

Archives are built through the library with fsync off (``durable=False``) in the builder
only: building a million runs durably would take as long as the measurement is worth.
Every figure reported is measured with real fsyncs.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, load_average, start_daemon
from gating import GROUP_SIZE, TrainingArchiveManager

SYMBOLS = tuple(f"SYM{n:03d}" for n in range(500))
PER_RUN = 10
QUERIED = "SYM007"
WATCHED_FILES = int(os.environ.get("GATEWATCH_BENCH_WATCHED", "1000"))
ROUNDS = 9  # each cold command runs this many times, in turn with the others
COLD_TARGET = 3.0  # a cold query within this many times a bare `python -c pass` (issue 22)
REINDEX_TARGET = 5000  # runs/s of `reindex` at 1,000,000 runs (issue 22)


def summary(index: int, rng: random.Random) -> bytes:
    """A run of 10 of the 500 symbols, each with a 20-point history."""
    models = {
        symbol: {
            "fitness": round(rng.uniform(0.3, 0.95), 5),
            "profit_factor": round(rng.uniform(1.0, 3.0), 5),
            "consistency": round(rng.uniform(0.5, 1.0), 5),
            "max_drawdown": round(rng.uniform(0.01, 0.2), 5),
            "fitness_history": [round(rng.uniform(0.3, 0.95), 5) for _ in range(20)],
        }
        for symbol in rng.sample(SYMBOLS, PER_RUN)
    }
    return json.dumps({"run_id": f"scale-{index:07d}", "validation_interval": 1000,
                       "models": models}).encode()  # fmt: skip


def summaries(count: int, seed: int) -> Iterator[bytes]:
    """``count`` summaries, made as they are consumed (a million never sit in memory)."""
    rng = random.Random(seed)
    return (summary(i, rng) for i in range(count))


def build(root: Path, runs: int) -> None:
    """An archive of ``runs`` runs, built in groups without fsync (builder only)."""
    with TrainingArchiveManager(root, durable=False, auto_compact=False) as manager:
        group = []
        for raw in summaries(runs, runs):
            group.append(manager.prepare(raw))
            if len(group) == GROUP_SIZE:
                manager.commit_many(group)  # results dropped: a million would fill memory
                group.clear()
        manager.commit_many(group)
    # close() folded the runs into index.json: compaction is timed separately below.


def one_more_ms(big: Path, small: Path, extra: int = 41) -> tuple[float, float]:
    """Median ms to archive one more run into ``big`` and into ``small`` (real fsyncs).

    The two are interleaved, one run each in turn, so the disk's ups and downs hit both.
    """
    managers = [
        TrainingArchiveManager(big, auto_compact=False),
        TrainingArchiveManager(small, auto_compact=False),
    ]
    rng = random.Random(time.time_ns())  # new runs also when an archive is measured again
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


# Cold processes run as an installed package does: from compiled bytecode (pip writes it at
# install; PYTHONDONTWRITEBYTECODE in a developer's shell would time the compiler instead).
COLD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_bytecode() -> None:
    """Write the .pyc files of gatewatch's packages, as `pip install` does."""
    root = Path(__file__).resolve().parent.parent
    for package in ("gating", "daemon"):
        compileall.compile_dir(root / package, quiet=1)


def cold_ms(commands: dict[str, list[str]]) -> dict[str, tuple[float, bytes]]:
    """Median milliseconds of each command as a cold process, and its output: ROUNDS
    rounds, each running every command once in turn, so that the machine's drift over the
    measurement (seconds of it) weighs on every command alike, the baseline too."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    outs = dict.fromkeys(commands, b"")
    for _ in range(ROUNDS):
        for name, command in commands.items():
            started = time.perf_counter()
            outs[name] = subprocess.run(
                command, check=True, capture_output=True, env=COLD_ENV
            ).stdout
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: (statistics.median(times[name]), outs[name]) for name in commands}


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_rss(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a process, its RSS sampled from /proc while it runs."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = 0.0
    while child.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            rss = max(rss, peak_rss_mb(child.pid))
        time.sleep(0.01)
    if child.returncode != 0:
        raise RuntimeError(f"{command} exited {child.returncode}")
    return time.perf_counter() - started, rss


def daemon_figures(where: Path, size: int) -> dict[str, float]:
    """Start to READY with WATCHED_FILES already-archived files watched; peak RSS then."""
    inbox = where / "in"
    inbox.mkdir()
    for i, raw in enumerate(summaries(min(WATCHED_FILES, size), size)):  # the first runs
        folder = inbox / f"job-{i // 1000:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}_summary.json").write_bytes(raw)
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
                assert event["already_archived"] == min(WATCHED_FILES, size), event
                drained = time.perf_counter() - started
        rss = peak_rss_mb(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
    return {"ready_s": round(ready, 2), "peak_rss_mb": round(rss, 1)}


def measure(size: int, where: Path) -> dict[str, Any]:
    """All figures for one archive size."""
    archive = where / "archive"
    began = time.perf_counter()
    if not (where / "built").exists():  # --root: an archive built before is measured again
        shutil.rmtree(archive, ignore_errors=True)
        build(archive, size)
        (where / "built").write_text(f"{time.perf_counter() - began:.1f}\n", "utf-8")
    build_s = float((where / "built").read_text("utf-8"))
    TrainingArchiveManager(archive).recover()  # untimed: a catalog of an older schema is rebuilt
    shutil.rmtree(where / "in", ignore_errors=True)
    shutil.rmtree(where / "empty-archive", ignore_errors=True)
    (where / "config.toml").write_text('[archive]\ndir = "archive"\n', "utf-8")
    cli = [*gatewatch_command(), "--config", str(where / "config.toml")]
    cold = cold_ms(
        {
            "last50": [*cli, "history", QUERIED, "--last", "50", "--json"],
            "full": [*cli, "history", QUERIED, "--json"],
            "approved": [*cli, "approved", "--json"],
            "runs20": [*cli, "runs", "--last", "20", "--json"],
            "deployable": [*cli, "deployable", "--json"],
            "python": [sys.executable, "-c", "pass"],  # the floor: Python starting alone
        }
    )
    (last50, _), (full, out), (approved, _), (runs20, _), (deployable, _), (python, _) = (
        cold[name] for name in ("last50", "full", "approved", "runs20", "deployable", "python")
    )
    records = len(json.loads(out))
    compact_s, compact_rss = timed_rss([*cli, "compact"])
    reindex_s, reindex_rss = timed_rss([*cli, "reindex"])
    more, empty_ms = one_more_ms(archive, where / "empty-archive")
    result: dict[str, Any] = {
        "runs": size,
        "build_s": round(build_s, 1),
        "history_last50_ms": round(last50, 1),
        "history_full_ms": round(full, 1),
        "history_full_records": records,
        "history_records_per_s": round(records / (full / 1000), 0),
        "approved_ms": round(approved, 1),
        "runs_last20_ms": round(runs20, 1),
        "deployable_ms": round(deployable, 1),
        "python_pass_ms": round(python, 1),
        "cold_target_met": max(last50, approved, runs20, deployable) <= COLD_TARGET * python,
        **{
            key.replace("_ms", "_vs_python"): round(value / python, 2)
            for key, value in (
                ("history_last50_ms", last50),
                ("approved_ms", approved),
                ("runs_last20_ms", runs20),
                ("deployable_ms", deployable),
            )
        },
        "one_more_run_ms": round(more, 2),
        "empty_archive_one_more_run_ms": round(empty_ms, 2),
        "one_more_vs_empty": round(more / empty_ms, 2),
        "compact_s": round(compact_s, 2),
        "compact_peak_rss_mb": round(compact_rss, 1),
        "reindex_runs_per_s": round(size / reindex_s, 0),
        "reindex_target_met": size / reindex_s >= REINDEX_TARGET if size >= 1_000_000 else None,
        "reindex_peak_rss_mb": round(reindex_rss, 1),
    }
    result.update(daemon_figures(where, size))
    return result


QUERIES = ("history_last50_ms", "history_full_ms", "approved_ms", "runs_last20_ms", "deployable_ms")


def main() -> int:
    """Parse the arguments, measure each size, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--root", type=Path, help="keep the archives in this folder and reuse them next time"
    )
    parser.add_argument(
        "--deployable", type=int, nargs="+", metavar="RUNS",
        help="only time `deployable` (issue 12) at these archive sizes, e.g. 1000 1000000",
    )  # fmt: skip
    args = parser.parse_args()
    if args.deployable:
        from benchmarks.deployable import deployable_main

        return deployable_main(args.deployable)
    args.keep = args.root is not None
    compile_bytecode()
    results: list[dict[str, Any]] = []
    root = args.root or Path(tempfile.mkdtemp(prefix="gatewatch-scale-"))
    try:
        for size in args.sizes:
            where = root / str(size)
            where.mkdir(parents=True, exist_ok=True)
            before = load_average()
            result = measure(size, where)
            # What else ran meanwhile (the load average counts this run's processes too).
            result["load_average_before"], result["load_average_after"] = before, load_average()
            if results:
                base = results[0]
                for key in QUERIES:
                    result[key.replace("_ms", "_vs_smallest")] = round(result[key] / base[key], 2)
            results.append(result)
            if not args.keep:
                shutil.rmtree(where, ignore_errors=True)
            if not args.json:
                print(json.dumps(result), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps({"sizes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
