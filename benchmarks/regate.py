"""What-if at scale: `regate` over an archive of 100,000 runs, against one process.

Builds an archive of N runs of 5 symbols (20-point histories, a decision on every 500th
run) through the library, then re-gates it under other thresholds with a champion table
(consistency 0.80 instead of 0.85, fitness at most 5% below the champion): once in this
process alone (the baseline), once with a worker per processor, and once as a cold
`gatewatch regate OTHER.toml --json` process. The reports must agree.

    python -m benchmarks.regate                       # 100,000 runs; goal: under 30 s
    python -m benchmarks.regate -n 300 --json         # the smoke run CI does
    python -m benchmarks.regate --archive /tmp/big    # build once there, reuse after

The builder uses ``TrainingArchiveManager(root, durable=False)`` (no fsync); regate only
reads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, run_main
from gating import GROUP_SIZE, ModelGatingConfig, TrainingArchiveManager
from gating.archive.regate import default_workers

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN")
OTHER = {"approved_min_consistency": 0.80, "champion": {"fitness": 0.05}}
GOAL_SECONDS = 30.0
GOAL_RUNS = 100_000


def summary(index: int, rng: random.Random) -> dict[str, Any]:
    """A run of the five symbols, most of them near the APPROVED bounds."""
    models = {
        symbol: {
            "fitness": round(rng.uniform(0.6, 0.95), 5),
            "profit_factor": round(rng.uniform(1.5, 3.0), 5),
            "consistency": round(rng.uniform(0.7, 1.0), 5),
            "max_drawdown": round(rng.uniform(0.01, 0.1), 5),
            "fitness_history": [round(rng.uniform(0.5, 0.95), 5) for _ in range(20)],
        }
        for symbol in SYMBOLS
    }
    return {"run_id": f"regate-{index:07d}", "validation_interval": 1000, "models": models}


def build(root: Path, runs: int) -> float:
    """An archive of ``runs`` runs and a decision on every 500th; seconds it took."""
    started = time.perf_counter()
    rng = random.Random(runs)
    with TrainingArchiveManager(root, durable=False, auto_compact=False) as manager:
        for first in range(0, runs, GROUP_SIZE):
            batch = [summary(i, rng) for i in range(first, min(runs, first + GROUP_SIZE))]
            manager.archive_training_runs(batch)
        for item in manager.pending_reviews()[::500]:
            manager.decide(item.timestamp, item.symbol, "approve", by="bench", reason="what-if")
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed_regate(root: Path, config: ModelGatingConfig, workers: int) -> tuple[float, float, Any]:
    """Wall and CPU seconds (workers included) for one regate through the library; its report."""
    with TrainingArchiveManager(root) as manager:
        started, cpu = time.perf_counter(), cpu_seconds()
        report = manager.regate(config, workers=workers)
        return time.perf_counter() - started, cpu_seconds() - cpu, report


def timed_cli(root: Path, where: Path) -> tuple[float, Any]:
    """Seconds for a cold `gatewatch regate OTHER.toml --json`, and its document."""
    (where / "config.toml").write_text(f'[archive]\ndir = "{root}"\n', "utf-8")
    champion = "".join(f"{k} = {v}\n" for k, v in OTHER["champion"].items())  # type: ignore[attr-defined]
    other = f"[gating]\napproved_min_consistency = 0.80\n[gating.champion]\n{champion}"
    (where / "other.toml").write_text(other, "utf-8")
    command = [*gatewatch_command(), "--config", str(where / "config.toml"), "regate"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, str(where / "other.toml"), "--json"], capture_output=True, check=True
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """Build (or reuse) the archive, then time the baseline, the workers and the CLI."""
    root = Path(args.archive) if args.archive else where / "archive"
    built = None
    if not (root / "catalog.sqlite3").exists():
        built = build(root, args.runs)
    config = ModelGatingConfig.from_mapping(OTHER)
    workers = args.workers or default_workers()
    with TrainingArchiveManager(root) as manager:
        manager.list_runs(last=1)  # a catalog of an older schema is rebuilt here, not timed
    load = os.getloadavg()[0]
    one_s, one_cpu, one = timed_regate(root, config, 1)
    many_s, many_cpu, many = timed_regate(root, config, workers)
    cli_s, document = timed_cli(root, where)
    if one.as_document() != many.as_document() or document != many.as_document():
        print("regate: the reports disagree", file=sys.stderr)
    runs = many.runs
    return {
        "runs": runs,
        "models": many.models,
        "changes": len(many.changes),
        "build_seconds": None if built is None else round(built, 1),
        "workers": workers,
        "one_process_seconds": round(one_s, 2),
        "one_process_runs_per_s": round(runs / one_s),
        "one_process_cpu_us_per_run": round(one_cpu / max(runs, 1) * 1e6),
        "workers_seconds": round(many_s, 2),
        "workers_runs_per_s": round(runs / many_s),
        "workers_cpu_us_per_run": round(many_cpu / max(runs, 1) * 1e6),
        "speedup": round(one_s / many_s, 2),
        "cli_seconds": round(cli_s, 2),
        "reports_agree": one.as_document() == many.as_document() == document,
        "load_average_before": round(load, 2),  # other work on the machine meanwhile
        "goal": f"{GOAL_RUNS:,} runs in under {GOAL_SECONDS:g} s",
        "seconds_per_100k_runs": round(many_s * GOAL_RUNS / max(runs, 1), 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """-n RUNS, --workers, --archive."""
    parser.add_argument("-n", "--runs", type=int, default=GOAL_RUNS, help="runs in the archive")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: one per CPU)")
    parser.add_argument("--archive", help="build the archive here once, then reuse it")


if __name__ == "__main__":
    sys.exit(run_main(__doc__, measure, add_arguments, lambda r: bool(r["reports_agree"])))
