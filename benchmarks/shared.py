"""Shared mode: runs/s into one PostgreSQL database from three hosts at once, against one
host alone, in the same run (and the folder archive beside them, for scale).

Starts a throwaway PostgreSQL cluster (tests/pg.py: Debian's server, as the postgres
user), then for each case a fresh database: one "host" (a process calling
``archive_training_runs``) archives ``-n`` runs; three hosts archive ``-n`` runs each at
once, 30% of them the same bytes on every host. Checks that the database holds exactly
the distinct runs. Each host is its own process, as on separate machines.

Then how long one wide summary (``--wide`` symbols, held against their champions) holds
the commit lock every host waits on, against committing it into a folder archive.

    python -m benchmarks.shared            # 600 runs a host, 18,000 symbols wide
    python -m benchmarks.shared -n 20 --wide 500 --json   # CI's smoke run
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import run_main
from benchmarks.throughput import make_summaries
from gating import GROUP_SIZE, ModelGatingConfig, TrainingArchiveManager
from gating.shared.archive import SharedArchive, upgrade


def _host(url: str, summaries: list[bytes], start: Any, done: Any) -> None:
    archive = SharedArchive(url, pool_size=1)
    start.wait()
    for begin in range(0, len(summaries), GROUP_SIZE):
        archive.archive_training_runs(summaries[begin : begin + GROUP_SIZE])
    archive.close()
    done.put(time.perf_counter())


def _hosts(url: str, shares: list[list[bytes]]) -> float:
    """Every share archived by its own process at once; the seconds from start to last."""
    context = multiprocessing.get_context("spawn")
    start, done = context.Event(), context.Queue()
    processes = [context.Process(target=_host, args=(url, s, start, done)) for s in shares]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every host has connected: only the archiving is timed
    began = time.perf_counter()
    start.set()
    ended: float = max(done.get(timeout=600) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return ended - began


_COMPARED = ModelGatingConfig(champion_tolerances={"fitness": 0.02})


def wide_summaries(symbols: int) -> list[bytes]:
    """Two summaries of ``symbols`` models each (40-point histories), the second newer."""
    rng = random.Random(3)

    def model() -> dict[str, Any]:
        return {
            "fitness": round(rng.uniform(0.3, 0.95), 6),
            "profit_factor": round(rng.uniform(1.0, 3.0), 6),
            "consistency": round(rng.uniform(0.5, 1.0), 6),
            "max_drawdown": round(rng.uniform(0.01, 0.2), 6),
            "fitness_history": [round(rng.uniform(0.3, 0.95), 6) for _ in range(40)],
        }

    return [
        json.dumps(
            {"run_id": f"wide-{n}", "models": {f"S{i:05d}": model() for i in range(symbols)}}
        ).encode()
        for n in range(2)
    ]


def _commit_seconds(archive: TrainingArchiveManager, summaries: list[bytes]) -> float:
    """Seconds committing the last summary takes (the lock held), the others archived first."""
    archive.archive_training_runs(summaries[:-1])
    prepared = archive.writer.prepare(summaries[-1])
    began = time.perf_counter()
    archive.writer.commit_many([prepared])
    return time.perf_counter() - began


def measure(count: int, wide: int, where: Path) -> dict[str, Any]:
    """One host alone, three at once, and the folder archive, each on ``count`` runs; then
    one summary ``wide`` symbols wide, committed into the database and into a folder."""
    from tests.pg import Cluster

    cluster = Cluster().init()
    try:
        alone = cluster.create_database()
        upgrade(alone)
        summaries = make_summaries(count, seed=1)
        one_s = _hosts(alone, [summaries])
        three = cluster.create_database()
        upgrade(three)
        common = make_summaries(count * 3 // 10, seed=2)
        shares = [common + make_summaries(count - len(common), seed=10 + h) for h in range(3)]
        distinct = len({s for share in shares for s in share})
        three_s = _hosts(three, shares)
        with SharedArchive(three) as archive:
            stored = archive.reader.totals()["runs"]
        wide_url = cluster.create_database()
        upgrade(wide_url)
        with SharedArchive(wide_url, _COMPARED) as archive:
            wide_s = _commit_seconds(archive, wide_summaries(wide))
    finally:
        cluster.destroy()
    folder = TrainingArchiveManager(where / "folder")
    began = time.perf_counter()
    for begin in range(0, count, GROUP_SIZE):
        folder.archive_training_runs(summaries[begin : begin + GROUP_SIZE])
    folder_s = time.perf_counter() - began
    folder.close()
    with TrainingArchiveManager(where / "wide", _COMPARED) as archive:
        wide_folder_s = _commit_seconds(archive, wide_summaries(wide))
    return {
        "runs_per_host": count,
        "one_host_runs_per_s": round(count / one_s, 1),
        "three_hosts_files_per_s": round(3 * count / three_s, 1),
        "three_hosts_runs_per_s": round(distinct / three_s, 1),
        "three_hosts_ratio_over_one": round((3 * count / three_s) / (count / one_s), 2),
        "distinct_runs": distinct,
        "stored_runs": stored,
        "folder_one_host_runs_per_s": round(count / folder_s, 1),
        "wide_symbols": wide,
        "wide_commit_lock_s": round(wide_s, 2),
        "wide_folder_commit_s": round(wide_folder_s, 2),
        "wide_ratio_over_folder": round(wide_s / wide_folder_s, 2),
    }


def main() -> int:
    """Parse the arguments, measure, print; exit 1 unless the database holds each distinct
    run exactly once."""

    def arguments(parser: Any) -> None:
        parser.add_argument("-n", type=int, default=600, help="runs each host archives")
        parser.add_argument("--wide", type=int, default=18_000, help="symbols of the wide run")

    return run_main(
        __doc__,
        lambda args, where: measure(args.n, args.wide, where),
        arguments,
        lambda r: r["stored_runs"] == r["distinct_runs"],
    )


if __name__ == "__main__":
    sys.exit(main())
