"""Crash/restart soak: a producer streams summaries while the daemon is SIGKILLed and restarted.

At the end every produced file must be archived exactly once, the index must list exactly
the run folders, reindex must change nothing, no staging folder may be left, and every
JSON file must parse. Prints the figures (and one JSON document with --json).

    python -m benchmarks.soak --cycles 50 --files 1000           # a long soak
    python -m benchmarks.soak --cycles 8 --files 80 --json       # what CI runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, run_main
from gating import TrainingArchiveManager
from gating.archive import RUN_FILES

MODES = ("rename", "in_place", "new_folder", "cross_folder", "chunked")


def summary(run_id: str, rng: random.Random) -> bytes:
    """A valid summary with a unique run_id and random metrics."""
    models = {
        symbol: {
            "fitness": round(rng.uniform(0.3, 0.95), 4),
            "profit_factor": round(rng.uniform(1.0, 3.0), 4),
            "consistency": round(rng.uniform(0.5, 1.0), 4),
            "max_drawdown": round(rng.uniform(0.01, 0.2), 4),
            "fitness_history": [round(rng.uniform(0.3, 0.95), 4) for _ in range(10)],
        }
        for symbol in ("AAPL", "MSFT", "NVDA")
    }
    return json.dumps({"run_id": run_id, "validation_interval": 1000, "models": models}).encode()


def produce(
    inbox: Path, outside: Path, count: int, seed: int, pace: float, stop: threading.Event
) -> list[str]:
    """Write ``count`` summaries in every producer style, ~``pace`` s apart; return run_ids."""
    rng = random.Random(seed)
    produced = []
    for index in range(count):
        if stop.is_set():
            break
        run_id = f"soak-{index:05d}"
        data = summary(run_id, rng)
        mode = MODES[index % len(MODES)]
        name = f"{run_id}_summary.json"
        if mode == "rename":
            temp = inbox / f".{name}.tmp"
            temp.write_bytes(data)
            temp.rename(inbox / name)
        elif mode == "in_place":
            (inbox / name).write_bytes(data)
        elif mode == "new_folder":
            folder = inbox / f"job-{index:05d}" / "eval"
            folder.mkdir(parents=True)
            (folder / name).write_bytes(data)
        elif mode == "cross_folder":
            (outside / name).write_bytes(data)
            (outside / name).rename(inbox / name)
        else:
            with (inbox / name).open("wb") as handle:
                half = len(data) // 2
                handle.write(data[:half])
                handle.flush()
                time.sleep(0.02)  # a slow producer, on purpose
                handle.write(data[half:])
        produced.append(run_id)
        time.sleep(rng.uniform(0, 2 * pace))
    return produced


@dataclass
class Report:
    """What the checks found."""

    files_produced: int = 0
    runs_archived: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    incomplete_runs: list[str] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)
    staging_left: list[str] = field(default_factory=list)
    index_matches_folders: bool = False
    reindex_unchanged: bool = False
    rejected: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was lost, doubled, torn or left behind."""
        problems = (self.lost, self.doubled, self.incomplete_runs, self.unparsable)
        return (
            not any(problems)
            and not self.staging_left
            and self.index_matches_folders
            and (self.reindex_unchanged)
        )


def check_archive(archive: Path, produced: list[str]) -> Report:
    """Check the archive after a clean stop against the run_ids that were produced."""
    report = Report(files_produced=len(produced))
    folders = sorted(p for p in archive.iterdir() if p.is_dir() and p.name[:1].isdigit())
    run_ids: Counter[str] = Counter()
    for folder in folders:
        if sorted(p.name for p in folder.iterdir()) != sorted(RUN_FILES):
            report.incomplete_runs.append(folder.name)
            continue
        try:
            record = json.loads((folder / "model_assessments.json").read_text("utf-8"))
            run_ids[json.loads((folder / "summary.json").read_text("utf-8"))["run_id"]] += 1
            assert record["timestamp"] == folder.name
        except (ValueError, KeyError, AssertionError):
            report.unparsable.append(folder.name)
    for name in ("index.json",):
        try:
            json.loads((archive / name).read_text("utf-8"))
        except (OSError, ValueError):
            report.unparsable.append(name)
    report.runs_archived = len(folders)
    report.lost = sorted(set(produced) - set(run_ids))
    report.doubled = sorted(run_id for run_id, n in run_ids.items() if n > 1)
    report.staging_left = [p.name for p in archive.iterdir() if p.name.startswith(".staging")]
    index = json.loads((archive / "index.json").read_text("utf-8"))
    names = [f.name for f in folders]
    catalogued = [run["timestamp"] for run in TrainingArchiveManager(archive).list_runs()]
    report.index_matches_folders = [r["timestamp"] for r in index["runs"]] == names == catalogued
    before = (archive / "index.json").read_bytes()
    TrainingArchiveManager(archive).reindex()
    report.reindex_unchanged = (archive / "index.json").read_bytes() == before
    rejected = archive / "_rejected"
    report.rejected = len(list(rejected.glob("*.reason.json"))) if rejected.exists() else 0
    return report


def start(root: Path, log: Any) -> subprocess.Popen[bytes]:
    """Start `gatewatch run` on the soak folder."""
    return subprocess.Popen(
        [*gatewatch_command(), "run", "--config", str(root / "config.toml")],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )


def soak(cycles: int, files: int, seed: int, observer: str, root: Path) -> dict[str, Any]:
    """Run the soak in ``root``; return the figures."""
    rng = random.Random(seed)
    inbox, outside, archive = root / "in", root / "outside", root / "archive"
    inbox.mkdir(parents=True)
    outside.mkdir()
    (root / "config.toml").write_text(
        f'[watch]\npaths = ["in"]\nsettle_seconds = 0.3\nobserver = "{observer}"\n'
        '[archive]\ndir = "archive"\n[schedule]\nrescan_seconds = 2\n'
        '[logging]\nformat = "json"\n',
        "utf-8",
    )
    stop = threading.Event()
    pace = cycles * 0.75 / max(files, 1)  # spread the files over the kill cycles
    produced: list[str] = []
    producer = threading.Thread(
        target=lambda: produced.extend(produce(inbox, outside, files, seed, pace, stop)),
        daemon=True,
    )
    started = time.monotonic()
    kills = 0
    with (root / "daemon.log").open("ab") as log:
        producer.start()
        for _ in range(cycles):
            process = start(root, log)
            time.sleep(rng.uniform(0.3, 1.2))  # a random moment to kill it at
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        producer.join()
        offset = (root / "daemon.log").stat().st_size
        process = start(root, log)
        deadline = time.monotonic() + 60 + files * 0.05

        def ready() -> bool:
            with (root / "daemon.log").open("rb") as handle:
                handle.seek(offset)
                return b'"daemon_ready"' in handle.read()

        def archived() -> int:
            if not archive.exists():
                return 0
            return sum(1 for p in archive.iterdir() if p.name[:1].isdigit())

        while not (ready() and archived() >= len(produced)) and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        clean_exit = process.wait(timeout=30)
    report = check_archive(archive, produced)
    return {
        "crash_restart_cycles": kills,
        "clean_exit_status": clean_exit,
        "seconds": round(time.monotonic() - started, 1),
        "ok": report.ok and clean_exit == 0,
        **asdict(report),
        "lost": len(report.lost),
        "doubled": len(report.doubled),
    }


def main() -> int:
    """Parse the arguments, run the soak, print the figures."""

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--cycles", type=int, default=20, help="SIGKILL/restart cycles")
        parser.add_argument("--files", type=int, default=300, help="summaries to produce")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--observer", choices=("native", "polling"), default="native")

    return run_main(
        __doc__,
        lambda args, root: soak(args.cycles, args.files, args.seed, args.observer, root),
        arguments,
        passed=lambda result: bool(result["ok"]),
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
