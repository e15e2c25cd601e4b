"""Notifications under a flood: every event of many runs delivered, the outbox drained.

Then starts the real `gatewatch run` with a webhook and drops ``--drops`` files one at a
time, timing each from the rename into the watched folder to its run_archived event's
arrival at the receiver.

First it archives runs (10 symbols each) through the library with an outbox and the service's
sender running against a real webhook receiver on loopback, which is down (connections
refused) for the first ``--down-seconds``. Then checks that every event arrived (by id),
in order, and that the outbox is empty again; and compares the archiving rate with the
same runs archived without notifications.

    python -m benchmarks.notify                  # 1,000 runs
    python -m benchmarks.notify -n 20 --drops 3 --down-seconds 0.3 --json   # CI's smoke run
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, run_main
from benchmarks.receiver import Receiver
from benchmarks.throughput import make_summaries
from daemon.notify.sender import Sender
from daemon.notify.settings import outbox_for, parse_notify
from gating import GROUP_SIZE, TrainingArchiveManager
from gating.events import run_events


def _archive(manager: TrainingArchiveManager, summaries: list[bytes]) -> tuple[list[Any], float]:
    started = time.perf_counter()
    runs = []
    for start in range(0, len(summaries), GROUP_SIZE):
        runs.extend(manager.archive_training_runs(summaries[start : start + GROUP_SIZE]))
    return runs, time.perf_counter() - started


def measure(count: int, down_seconds: float, where: Path) -> dict[str, Any]:
    """Archive ``count`` runs with and without notifications; deliver; return the figures."""
    summaries = make_summaries(count)
    _, bare_seconds = _archive(TrainingArchiveManager(where / "plain"), summaries)

    receiver = Receiver().start()
    receiver.stop()  # down: the port is closed until down_seconds have passed
    settings = parse_notify(
        {
            "webhooks": [{"url": receiver.url, "name": "bench"}],
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.5,
            "max_attempts": 10_000,
        },
        where,
    )
    outbox = outbox_for(where / "notified", settings)
    assert outbox is not None
    manager = TrainingArchiveManager(where / "notified", outbox=outbox)
    sender = Sender(outbox, settings)
    sender.start()
    went_down = time.monotonic()
    try:
        runs, notify_seconds = _archive(manager, summaries)
        peak_segments, peak_bytes = outbox.size()
        expected = [event["id"] for run in runs for event in run_events(run)]
        time.sleep(max(0.0, down_seconds - (time.monotonic() - went_down)))  # the outage
        up = time.monotonic()
        receiver.start()
        deadline = up + 600
        while len(receiver.requests) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.01)
        delivered_seconds = time.monotonic() - up
        while outbox.size() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sender.stop()
        receiver.stop()
    got = receiver.ids()
    end_segments, end_bytes = outbox.size()
    return {
        "runs": count,
        "events": len(expected),
        "received": len(got),
        "lost": len(set(expected) - set(got)),
        "duplicates": len(got) - len(set(got)),
        "in_order": got == expected,
        "receiver_down_s": down_seconds,
        "outbox_peak_segments": peak_segments,
        "outbox_peak_bytes": peak_bytes,
        "outbox_end_segments": end_segments,
        "outbox_end_bytes": end_bytes,
        "delivery_after_up_s": round(delivered_seconds, 2),
        "events_per_s": round(len(got) / delivered_seconds, 1) if delivered_seconds else None,
        "archive_runs_per_s_without_notify": round(count / bare_seconds, 1),
        "archive_runs_per_s_with_notify": round(count / notify_seconds, 1),
        "ratio_with_over_without": round(bare_seconds / notify_seconds, 2),
    }


def drop_to_webhook(drops: int, where: Path) -> list[float]:
    """Seconds from each drop (rename into the watched folder) to its run_archived event at
    the receiver, through the real service."""
    receiver = Receiver().start()
    (where / "in").mkdir()
    (where / "config.toml").write_text(
        '[watch]\npaths = ["in"]\n[archive]\ndir = "archive"\n[logging]\nformat = "json"\n'
        f'[[notify.webhooks]]\nurl = "{receiver.url}"\nevents = ["run_archived"]\n',
        "utf-8",
    )
    with (where / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [*gatewatch_command(), "run", "--config", str(where / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    latencies = []
    try:
        while b"daemon_ready" not in (where / "daemon.log").read_bytes():
            if daemon.poll() is not None:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.01)
        for index, raw in enumerate(make_summaries(drops, seed=9)):
            temp = where / f"{index}.tmp"
            temp.write_bytes(raw)
            dropped = time.monotonic()
            temp.rename(where / "in" / f"{index:05d}_summary.json")
            deadline = dropped + 30
            while len(receiver.requests) <= index and time.monotonic() < deadline:
                time.sleep(0.001)
            latencies.append(receiver.requests[index].arrived - dropped)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        receiver.stop()
    return latencies


def main() -> int:
    """Parse the arguments, measure, print; exit 1 when an event was lost or left over."""

    def arguments(parser: Any) -> None:
        parser.add_argument("-n", type=int, default=1000, help="runs to archive")
        parser.add_argument("--down-seconds", type=float, default=2.0, help="receiver outage")
        parser.add_argument("--drops", type=int, default=50, help="drops timed to the webhook")

    def both(args: Any, where: Path) -> dict[str, Any]:
        (where / "flood").mkdir()
        (where / "service").mkdir()
        result = measure(args.n, args.down_seconds, where / "flood")
        latencies = sorted(drop_to_webhook(args.drops, where / "service"))
        result["drops"] = len(latencies)
        result["drop_to_webhook_p50_ms"] = round(statistics.median(latencies) * 1000, 1)
        result["drop_to_webhook_max_ms"] = round(latencies[-1] * 1000, 1)
        return result

    return run_main(
        __doc__,
        both,
        arguments,
        lambda r: r["lost"] == 0 and r["in_order"] and r["outbox_end_bytes"] == 0,
    )


if __name__ == "__main__":
    sys.exit(main())
