"""Server time of every dashboard page and API answer, on a large archive and a small one.

Builds two archives with the library (10 of 500 symbols a run, as benchmarks.scale does),
records a few decisions in each, starts the real `gatewatch serve` on each and times every
route over HTTP on loopback: the median of ``--repeat`` requests after the first (which is
reported too: nothing cached yet). Goal: every page and bounded answer under 100 ms.

The whole lists (`/api/runs`, `/api/history/SYM`, `/api/review` without ``?last=``) are the
CLI's whole documents, as large as the archive: they are streamed, and timed for their
first byte (goal: 100 ms), their last byte, their size, and the server's peak memory.

    python -m benchmarks.web                        # 10,000 runs against 100
    python -m benchmarks.web --runs 1000000 --archive DIR   # an archive built before
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, run_main
from benchmarks.scale import QUERIED, build
from gating import TrainingArchiveManager

GOAL_MS = 100.0
SMALL = 100
READY_SECONDS = 60.0

BOUNDED = [
    "/",
    "/runs/{latest}",
    f"/symbols/{QUERIED}",
    f"/symbols/{QUERIED}?last=200",
    "/review",
    "/api/runs?last=50",
    "/api/runs/{latest}",
    f"/api/history/{QUERIED}?last=50",
    "/api/approved",
    "/api/deployable",
    "/api/review?last=50",
    "/api/audit",
    "/health",
    "/metrics",
]
WHOLE = ["/api/runs", f"/api/history/{QUERIED}", "/api/review"]


def decide_some(archive: Path, count: int) -> str:
    """Record decisions on the newest REVIEW models until the archive holds ``count``;
    return the newest run's timestamp."""
    manager = TrainingArchiveManager(archive, auto_compact=False)
    try:
        missing = count - len(manager.decisions())
        if missing > 0:
            for n, item in enumerate(manager.pending_reviews(missing)):
                verdict = ("APPROVED", "DROP")[n % 2]
                manager.decide(item.timestamp, item.symbol, verdict, by="bench", reason="bench")
        latest = manager.reader.latest_timestamp()
    finally:
        manager.close(fold=False)  # a million-run index.json is compaction's job
    if latest is None:
        raise SystemExit(f"{archive}: no run archived")
    return latest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/health")
        connection.getresponse().read()
        connection.close()
    except OSError:
        return False
    return True


@contextmanager
def serving(archive: Path, where: Path) -> Iterator[tuple[int, int]]:
    """The real `gatewatch serve` over ``archive``; yield (its port, its pid)."""
    where.mkdir(parents=True, exist_ok=True)
    config = where / "web.toml"
    config.write_text(f'[archive]\ndir = "{archive}"\n[logging]\nformat = "json"\n', "utf-8")
    port = _free_port()
    with (where / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*gatewatch_command(), "serve", "--config", str(config), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gatewatch serve did not answer: see {where / 'serve.log'}")
            time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


def fetch(connection: http.client.HTTPConnection, url: str) -> tuple[float, float, int]:
    """GET ``url``: ms to its first body byte, ms to its last, and its size in bytes."""
    started = time.perf_counter()
    connection.request("GET", url)
    response = connection.getresponse()
    first = response.read(1)
    first_ms = (time.perf_counter() - started) * 1000
    size = len(first)
    while chunk := response.read(1 << 20):
        size += len(chunk)
    total_ms = (time.perf_counter() - started) * 1000
    if response.status not in (200, 503):  # /health is 503 while no service runs
        raise SystemExit(f"{url}: HTTP {response.status}")
    return first_ms, total_ms, size


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def time_archive(
    archive: Path, where: Path, repeat: int, whole_repeat: int, latest: str
) -> dict[str, Any]:
    """Every route's timings on one archive, through a server of its own."""
    bounded: dict[str, dict[str, float]] = {}
    whole: dict[str, dict[str, float]] = {}
    with serving(archive, where) as (port, pid):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        for route in BOUNDED:
            url = route.replace("{latest}", latest)
            cold = fetch(connection, url)[1]
            samples = [fetch(connection, url)[1] for _ in range(repeat)]
            bounded[route] = {
                "ms": round(statistics.median(samples), 2),
                "first_ms": round(cold, 2),
            }
        rss_before = peak_rss_mb(pid)
        for url in WHOLE:
            runs = [fetch(connection, url) for _ in range(whole_repeat)]
            medians = [statistics.median(values) for values in zip(*runs, strict=True)]
            first_ms, total_ms, size = medians
            total_ms = max(total_ms, first_ms)  # medians of separate samples may cross
            whole[url] = {
                "first_byte_ms": round(first_ms, 2),
                "total_ms": round(total_ms, 2),
                "mb": round(size / 1e6, 2),
                "mb_per_s": round(size / 1e6 / (total_ms / 1000), 1),
            }
        connection.close()
        return {
            "bounded": bounded,
            "whole": whole,
            "rss_mb_before_whole": rss_before,
            "rss_mb_after_whole": peak_rss_mb(pid),
        }


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """Build both archives (or take the large one given), time every route on each."""
    sizes = {"large": args.runs, "small": min(SMALL, args.runs)}
    found: dict[str, dict[str, Any]] = {}
    for name, runs in sizes.items():
        archive = where / name / "archive"
        if name == "large" and args.archive is not None:
            archive = args.archive  # an archive built before (say, by benchmarks.scale --root)
        else:
            started = time.perf_counter()
            build(archive, runs)
            print(f"built {runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        latest = decide_some(archive, args.decisions)
        found[name] = time_archive(archive, where / name, args.repeat, args.whole_repeat, latest)
    large, small = found["large"]["bounded"], found["small"]["bounded"]
    routes = {
        url: {
            "large_ms": large[url]["ms"],
            "small_ms": small[url]["ms"],
            "large_first_ms": large[url]["first_ms"],
            "ratio": round(large[url]["ms"] / small[url]["ms"], 2) if small[url]["ms"] else None,
        }
        for url in large
    }
    slowest = max(large, key=lambda url: large[url]["ms"])
    whole = found["large"]["whole"]
    return {
        "runs": args.runs,
        "small_runs": sizes["small"],
        "routes": routes,
        "slowest_route": slowest,
        "slowest_ms": large[slowest]["ms"],
        "whole": whole,
        "server_rss_mb_before_whole": found["large"]["rss_mb_before_whole"],
        "server_rss_mb_after_whole": found["large"]["rss_mb_after_whole"],
        "over_goal": sorted(url for url, timing in large.items() if timing["ms"] > GOAL_MS)
        + sorted(url for url, timing in whole.items() if timing["first_byte_ms"] > GOAL_MS),
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the large archive")
    parser.add_argument("--repeat", type=int, default=7, help="requests timed per route")
    parser.add_argument("--whole-repeat", type=int, default=1, help="requests timed per whole list")
    parser.add_argument(
        "--decisions", type=int, default=50, help="decisions each archive holds (made if fewer)"
    )
    parser.add_argument(
        "--archive", type=Path, help="time the large archive's routes on this existing archive"
    )


if __name__ == "__main__":
    sys.exit(run_main(__doc__, measure, arguments))
