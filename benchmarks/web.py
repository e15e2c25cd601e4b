"""Server time of every dashboard page and API answer, on a large archive and a small one.

Builds two archives with the library (5 symbols a run, the same 5 in every run, so a
symbol's history has one record per run), then times each route in-process through
Starlette's TestClient (the median of ``--repeat`` requests after the first, which is
reported too: nothing cached yet) and prints the milliseconds for both sizes and their
ratio. Goal: every route under 100 ms.

    python -m benchmarks.web                        # 10,000 runs against 100
    python -m benchmarks.web --runs 200 --json      # the smoke run CI does
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from benchmarks.common import run_main
from benchmarks.scale import QUERIED, build
from daemon.config import parse_config
from daemon.web.app import create_app
from gating import TrainingArchiveManager

GOAL_MS = 100.0
SMALL = 100


def routes() -> list[str]:
    """Every page and API route ({latest} is the archive's newest run)."""
    return [
        "/",
        "/runs/{latest}",
        f"/symbols/{QUERIED}",
        "/review",
        "/api/runs?last=50",
        "/api/runs",
        "/api/runs/{latest}",
        f"/api/history/{QUERIED}?last=50",
        f"/api/history/{QUERIED}",
        "/api/approved",
        "/api/deployable",
        "/api/review",
        "/api/audit",
        "/health",
        "/metrics",
    ]


def time_routes(archive: Path, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median milliseconds per route on one archive, and each route's first (cold) time."""
    config = parse_config({"archive": {"dir": str(archive)}}, archive.parent)
    app = create_app(config)
    timings: dict[str, float] = {}
    cold: dict[str, float] = {}
    with TestClient(app, base_url="http://127.0.0.1:8470") as client:
        manager: TrainingArchiveManager = app.state.web.manager
        latest = manager.list_runs()[-1]["timestamp"]
        for route in routes():
            url = route.replace("{latest}", latest)
            started = time.perf_counter()
            client.get(url)  # the first request: files read, nothing cached yet
            cold[route] = round((time.perf_counter() - started) * 1000, 2)
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code not in (200, 501, 503):
                    raise SystemExit(f"{url}: HTTP {response.status_code}")
            timings[route] = round(statistics.median(samples), 2)
    return timings, cold


def measure(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """Build both archives, time every route on each."""
    sizes = {"large": args.runs, "small": min(SMALL, args.runs)}
    results: dict[str, dict[str, float]] = {}
    colds: dict[str, dict[str, float]] = {}
    for name, runs in sizes.items():
        archive = where / name / "archive"
        if name == "large" and args.archive is not None:
            archive = args.archive  # an archive built before (say, by benchmarks.scale --root)
        else:
            started = time.perf_counter()
            build(archive, runs)
            print(f"built {runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results[name], colds[name] = time_routes(archive, args.repeat)
    large, small = results["large"], results["small"]
    routes_ms = {
        url: {
            "large_ms": large[url],
            "small_ms": small[url],
            "large_first_ms": colds["large"][url],
            "ratio": round(large[url] / small[url], 2) if small[url] else None,
        }
        for url in large
    }
    slowest = max(large, key=lambda url: large[url])
    return {
        "runs": args.runs,
        "small_runs": sizes["small"],
        "routes": routes_ms,
        "slowest_route": slowest,
        "slowest_ms": large[slowest],
        "over_goal": sorted(url for url, ms in large.items() if ms > GOAL_MS),
    }


def arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the large archive")
    parser.add_argument("--repeat", type=int, default=7, help="requests timed per route")
    parser.add_argument(
        "--archive", type=Path, help="time the large archive's routes on this existing archive"
    )


if __name__ == "__main__":
    sys.exit(run_main(__doc__, measure, arguments))
