"""The idle service past inotify's watch limit: its CPU while nothing happens, against a
bare walk of the same folders every 5 s.

    python -m benchmarks.idle                    # 30,000 folders, 20 idle seconds
    python -m benchmarks.idle -n 2000 -s 5 --json   # the smoke run CI does

The service runs in this process with an inotify of 5 watches (the limit reached at
once), so every folder but a few is polled. The baseline is what any poller pays at the
service's pace: one `os.walk` of the folders every POLL_SECONDS, timed here.
``idle_ratio_ours_over_bare`` is the figure, ``idle_target_met`` whether it is within
IDLE_GOAL.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from watchdog.observers.inotify_c import Mask, WatchCallback

from benchmarks.common import run_main
from daemon.config import parse_config
from daemon.inotify import InotifyWatches
from daemon.logs import configure_logging
from daemon.service import Service
from daemon.watched_roots import POLL_SECONDS

IDLE_GOAL = 1.5  # the idle service at most 1.5x a bare walk every POLL_SECONDS (3.8x before)
GOAL_FOLDERS = 30_000


class FiveWatches(InotifyWatches):
    """An inotify instance whose watch limit is five watches."""

    def __init__(self) -> None:
        super().__init__()
        self.added = 0

    def add_watch(self, path: bytes, mask: Mask, callback: WatchCallback, id_: Any) -> Any:
        """Fail as the kernel does past the limit."""
        if self.added >= 5:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        self.added += 1
        return super().add_watch(path, mask, callback, id_)


def make_folders(inbox: Path, count: int) -> None:
    """``count`` folders, 100 to a parent."""
    for index in range(count):
        (inbox / f"job-{index // 100:04d}" / f"r{index % 100:02d}").mkdir(parents=True)


def bare_share(inbox: Path, seconds: float) -> float:
    """The share of one core that walking ``inbox`` every POLL_SECONDS takes."""
    started = time.process_time()
    walks = max(1, round(seconds / POLL_SECONDS))
    for _ in range(walks):
        for _folder, _names, _files in os.walk(inbox):
            pass
    return (time.process_time() - started) / (walks * POLL_SECONDS)


def service_share(root: Path, seconds: float) -> tuple[float, int]:
    """The share of one core the idle service takes, and how many folders it polls."""
    document = {
        "watch": {"paths": ["in"], "observer": "native"},
        "archive": {"dir": "archive"},
        "schedule": {"rescan_seconds": 3600},
    }
    configure_logging("json", "warning", stream=sys.stderr)  # stdout is the figures'
    service = Service(parse_config(document, root), inotify=FiveWatches)
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(service.serve()))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not service.worker.scanned.is_set():
            if time.monotonic() > deadline or not thread.is_alive():
                raise SystemExit("the service did not finish its startup scan")
            time.sleep(0.1)
        time.sleep(2 * POLL_SECONDS)  # the first polls and counts are done
        unwatched = service.unwatched_folders
        started, cpu = time.monotonic(), time.process_time()
        time.sleep(seconds)
        share = (time.process_time() - cpu) / (time.monotonic() - started)
    finally:
        service.stop_requested.set()
        thread.join(30)
    if status != [0]:
        raise SystemExit(f"the service ended with {status}")
    return share, unwatched


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """The bare walk, then the idle service, over the same folders."""
    inbox = where / "in"
    make_folders(inbox, args.folders)
    bare = bare_share(inbox, args.seconds)
    ours, unwatched = service_share(where, args.seconds)
    ratio = round(ours / bare, 2) if bare else float("inf")
    return {
        "folders": args.folders,
        "unwatched_folders": unwatched,
        "idle_seconds": args.seconds,
        "bare_walk_cpu_percent": round(100 * bare, 2),
        "idle_service_cpu_percent": round(100 * ours, 2),
        "idle_ratio_ours_over_bare": ratio,
        "idle_target_met": ratio <= IDLE_GOAL,
    }


def main() -> int:
    """Measure and print."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", "--folders", type=int, default=GOAL_FOLDERS)
        parser.add_argument("-s", "--seconds", type=float, default=20.0)

    return run_main(__doc__, measure, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
