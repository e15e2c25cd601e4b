"""Durable throughput: gatewatch against a bare loop doing the same fsyncs, in one run.

The bare loop writes the same three files per run with the same durability (each file
fsynced, the staging folder fsynced and renamed, the parent fsynced, one journal line
appended and fsynced) and nothing else: no parsing, no gating, no report. That is the
physical limit of this disk; the ratio bare_seconds / our_seconds says how close we are.
The library is timed both ways: ``archive_training_runs`` (group commit, the figure the
target is about) and ``archive_training_run`` one summary at a time.

    python -m benchmarks.throughput                 # N = 2000, library and CLI
    python -m benchmarks.throughput -n 200 --json   # the smoke run CI does

Running it again and again? Add --keep and delete the folders afterwards: on ext4 without
a journal, creating files is slow for minutes after many were deleted (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, run_main
from gating import GROUP_SIZE, TrainingArchiveManager

SYMBOLS = [f"SYM{i:02d}" for i in range(10)]
START = datetime(2026, 11, 25, tzinfo=UTC)
CLI_ROUNDS = 3
TARGETS = {  # each ratio to the bare loop at least this (issue 22)
    "library_ratio_bare_over_ours": 1.2,
    "one_by_one_ratio_bare_over_ours": 0.7,
    "cli_ratio_bare_over_ours": 1.0,
}


def make_summaries(count: int, seed: int = 1) -> list[bytes]:
    """``count`` distinct summaries, 10 symbols each with a 50-point fitness history."""
    rng = random.Random(seed)
    summaries = []
    for index in range(count):
        models = {
            symbol: {
                "fitness": round(rng.uniform(0.3, 0.95), 6),
                "profit_factor": round(rng.uniform(1.0, 3.0), 6),
                "consistency": round(rng.uniform(0.5, 1.0), 6),
                "max_drawdown": round(rng.uniform(0.01, 0.2), 6),
                "fitness_history": [round(rng.uniform(0.3, 0.95), 6) for _ in range(50)],
            }
            for symbol in SYMBOLS
        }
        document = {
            "run_id": f"bench-{index:06d}",
            "created_at": (START + timedelta(minutes=index)).isoformat().replace("+00:00", "Z"),
            "validation_interval": 10_000,
            "models": models,
        }
        summaries.append(json.dumps(document).encode())
    return summaries


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BareLoop:
    """The same bytes and fsyncs as one archived run, with no gating at all."""

    def __init__(self, root: Path, sizes: tuple[int, int]) -> None:
        root.mkdir(parents=True)
        self.root = root
        self.assessments, self.report = b"x" * sizes[0], b"y" * sizes[1]
        self.count = 0

    def run(self, raw: bytes) -> None:
        """Write one run folder durably and journal it."""
        self.count += 1
        staging = self.root / f".staging-{self.count}"
        staging.mkdir()
        _write_synced(staging / "summary.json", raw)
        _write_synced(staging / "model_assessments.json", self.assessments)
        _write_synced(staging / "recommendations.md", self.report)
        _fsync_dir(staging)
        os.rename(staging, self.root / f"{self.count:08d}")
        _fsync_dir(self.root)
        journal = os.open(self.root / "index.journal.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(journal, b'{"timestamp": "%d"}\n' % self.count)
        os.fsync(journal)
        os.close(journal)


def bare_seconds(root: Path, summaries: list[bytes], sizes: tuple[int, int]) -> float:
    """Seconds for the bare loop over ``summaries`` in a fresh folder."""
    bare = BareLoop(root, sizes)
    began = time.perf_counter()
    for raw in summaries:
        bare.run(raw)
    return time.perf_counter() - began


def run_sizes(manager: TrainingArchiveManager) -> tuple[int, int]:
    """Sizes of model_assessments.json and recommendations.md of the first archived run."""
    first = next(p for p in sorted(manager.archive_dir.iterdir()) if p.name[:1].isdigit())
    return (
        (first / "model_assessments.json").stat().st_size,
        (first / "recommendations.md").stat().st_size,
    )


def interleaved(root: Path, summaries: list[bytes], chunk: int = GROUP_SIZE) -> dict[str, float]:
    """Seconds for the bare loop, ``archive_training_runs`` (group commit) and
    ``archive_training_run`` one at a time, measured in alternating chunks so that the
    disk's drift over the run affects all three the same way."""
    grouped = TrainingArchiveManager(root / "library")
    single = TrainingArchiveManager(root / "library-one-by-one")
    grouped.archive_training_run(summaries[0])  # sizes of the files a run really writes
    single.archive_training_run(summaries[0])
    bare = BareLoop(root / "bare", run_sizes(grouped))
    bare.run(summaries[0])
    seconds = {"bare": 0.0, "grouped": 0.0, "single": 0.0}
    rest = summaries[1:]
    for start in range(0, len(rest), chunk):
        part = rest[start : start + chunk]
        began = time.perf_counter()
        for raw in part:
            bare.run(raw)
        seconds["bare"] += time.perf_counter() - began
        began = time.perf_counter()
        grouped.archive_training_runs(part)
        seconds["grouped"] += time.perf_counter() - began
        began = time.perf_counter()
        for raw in part:
            single.archive_training_run(raw)
        seconds["single"] += time.perf_counter() - began
    return seconds


def write_inputs(inbox: Path, summaries: list[bytes]) -> list[str]:
    """The summaries as files in ``inbox``, on disk before anything is timed."""
    inbox.mkdir(parents=True)
    names = []
    for index, raw in enumerate(summaries):
        path = inbox / f"{index:06d}_summary.json"
        path.write_bytes(raw)
        names.append(str(path))
    os.sync()  # the summaries were written by earlier jobs: none of our flushes is theirs
    return names


def cli(root: Path, names: list[str]) -> float:
    """Seconds for one `gatewatch archive FILE...` process into a new archive in ``root``."""
    root.mkdir(parents=True)
    (root / "config.toml").write_text('[archive]\ndir = "archive"\n', "utf-8")
    started = time.perf_counter()
    subprocess.run(
        [*gatewatch_command(), "--config", str(root / "config.toml"), "archive", *names],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def cli_against_bare(
    where: Path, summaries: list[bytes], sizes: tuple[int, int], rounds: int = CLI_ROUNDS
) -> tuple[float, float]:
    """(mean bare seconds, mean CLI seconds). A process cannot be interleaved in chunks,
    so whole runs alternate (bare, CLI, bare, ..., bare) and each CLI run is held against
    the mean of the bare runs on either side of it: the disk's drift hits both alike."""
    names = write_inputs(where / "in", summaries)
    bares = [bare_seconds(where / "bare-cli-0", summaries, sizes)]
    commands = []
    for round_ in range(1, rounds + 1):
        commands.append(cli(where / f"cli-{round_}", names))
        bares.append(bare_seconds(where / f"bare-cli-{round_}", summaries, sizes))
    around = [(before + after) / 2 for before, after in itertools.pairwise(bares)]
    return sum(around) / rounds, sum(commands) / rounds


def measure(count: int, with_cli: bool, where: Path) -> dict[str, Any]:
    """Run the variants in one folder tree; return the figures."""
    summaries = make_summaries(count + 1)
    seconds = interleaved(where, summaries)
    bare = seconds["bare"]
    sizes = run_sizes(TrainingArchiveManager(where / "library"))
    result: dict[str, Any] = {
        "runs": count,
        "bare_seconds": round(bare, 3),
        "bare_runs_per_s": round(count / bare, 1),
        "library_seconds": round(seconds["grouped"], 3),
        "library_runs_per_s": round(count / seconds["grouped"], 1),
        "library_ratio_bare_over_ours": round(bare / seconds["grouped"], 3),
        "one_by_one_seconds": round(seconds["single"], 3),
        "one_by_one_runs_per_s": round(count / seconds["single"], 1),
        "one_by_one_ratio_bare_over_ours": round(bare / seconds["single"], 3),
    }
    if with_cli:
        bare_again, command = cli_against_bare(where, summaries[1:], sizes)
        result.update(
            cli_seconds=round(command, 3),
            cli_runs_per_s=round(count / command, 1),
            cli_bare_seconds=round(bare_again, 3),
            cli_ratio_bare_over_ours=round(bare_again / command, 3),
        )
    for key, target in TARGETS.items():
        if key in result:
            result[key.replace("ratio_bare_over_ours", "target_met")] = result[key] >= target
    return result


def main() -> int:
    """Parse the arguments, measure, print."""

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", type=int, default=2000, help="summaries to archive")
        parser.add_argument("--no-cli", action="store_true", help="skip `gatewatch archive`")

    return run_main(__doc__, lambda args, where: measure(args.n, not args.no_cli, where), arguments)


if __name__ == "__main__":
    sys.exit(main())
