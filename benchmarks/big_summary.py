"""Memory for one large summary: `gatewatch archive` of a file of 50,000 models, against
a process that only reads the same file, parses it and writes a copy.

    python -m benchmarks.big_summary                 # 50,000 models (15 MB: under the
                                                     # default max_file_bytes)
    python -m benchmarks.big_summary -n 2000 --json  # the smoke run CI does

Each side is a cold process whose peak resident memory (``ru_maxrss``, from ``wait4``) is
printed with its time; ``peak_ratio_ours_over_bare`` is the figure, ``peak_target_met``
whether it is within PEAK_GOAL.
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

from benchmarks.common import CONFIG, gatewatch_command, run_main

PEAK_GOAL = 3.0  # the archiving process's peak at most 3x the bare one's (3.5x before)
GOAL_MODELS = 50_000

# Read the file, parse it, write a copy and fsync it: what any archiver must do at least.
BARE = """
import os, sys, orjson
raw = open(sys.argv[1], "rb").read()
parsed = orjson.loads(raw)
with open(sys.argv[2], "wb") as out:
    out.write(raw)
    out.flush()
    os.fsync(out.fileno())
"""


def summary_bytes(models: int) -> bytes:
    """A run of ``models`` symbols, each with a 20-point history."""
    rng = random.Random(models)
    document = {
        "run_id": f"big-{models}",
        "validation_interval": 1000,
        "models": {
            f"SYM{index:06d}": {
                "fitness": round(rng.uniform(0.4, 0.95), 5),
                "profit_factor": round(rng.uniform(1.0, 3.0), 5),
                "consistency": round(rng.uniform(0.6, 1.0), 5),
                "max_drawdown": round(rng.uniform(0.01, 0.2), 5),
                "fitness_history": [round(rng.uniform(0.4, 0.95), 5) for _ in range(20)],
            }
            for index in range(models)
        },
    }
    return json.dumps(document).encode()


def peak(command: list[str], output: Path) -> tuple[float, float]:
    """Run ``command`` (its stdout into ``output``); its peak resident memory in MB and its
    seconds (it must succeed). $GATEWATCH_CONFIG is not passed on: the config named wins."""
    environment = {k: v for k, v in os.environ.items() if k != "GATEWATCH_CONFIG"}
    started = time.perf_counter()
    with output.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, env=environment)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} ... exited {process.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """The bare process, then `gatewatch archive`, on the same file."""
    raw = summary_bytes(args.models)
    (where / "in").mkdir()
    source = where / "in" / "big_summary.json"
    source.write_bytes(raw)
    config = CONFIG.replace("[watch]\n", f"[watch]\nmax_file_bytes = {len(raw)}\n")
    (where / "config.toml").write_text(config, "utf-8")
    bare = [sys.executable, "-c", BARE, str(source), str(where / "copy")]
    bare_mb, bare_s = peak(bare, where / "bare.out")
    config_path = str(where / "config.toml")
    ours = [*gatewatch_command(), "--config", config_path, "archive", "--json", str(source)]
    ours_mb, ours_s = peak(ours, where / "ours.out")
    outcomes = [r["outcome"] for r in json.loads((where / "ours.out").read_bytes())]
    if outcomes != ["archived"]:  # a duplicate's peak says nothing of archiving
        raise SystemExit(f"gatewatch archive: {outcomes}, not one run archived")
    ratio = round(ours_mb / bare_mb, 2)
    return {
        "models": args.models,
        "file_mb": round(len(raw) / 1e6, 1),
        "bare_peak_mb": round(bare_mb, 1),
        "bare_seconds": round(bare_s, 2),
        "ours_peak_mb": round(ours_mb, 1),
        "ours_seconds": round(ours_s, 2),
        "peak_ratio_ours_over_bare": ratio,
        "peak_target_met": ratio <= PEAK_GOAL,
    }


def main() -> int:
    """Measure and print; exit 1 when the archive failed."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", "--models", type=int, default=GOAL_MODELS)

    return run_main(__doc__, measure, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
