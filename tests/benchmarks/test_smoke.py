"""Small runs of every benchmark, so the scripts keep working (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(module: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m benchmarks.<module> ... --json`` from the repository; parse its output."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.timeout(240)
def test_throughput_smoke() -> None:
    """The throughput benchmark measures the bare loop, the library and the CLI, and says
    the load average before and after."""
    result = bench("throughput", "-n", "30")
    assert result["runs"] == 30
    for key in ("bare_runs_per_s", "library_runs_per_s", "one_by_one_runs_per_s", "cli_runs_per_s"):
        assert result[key] > 0
    assert result["library_ratio_bare_over_ours"] > 0
    assert result["load_average_before"] >= 0
    assert result["load_average_after"] >= 0


@pytest.mark.timeout(240)
def test_latency_smoke() -> None:
    """The latency benchmark drops files into a real daemon and reads percentiles."""
    result = bench("latency", "-n", "6")
    assert result["drops"] == 6
    assert 0 < result["all_p50_ms"] <= result["all_p95_ms"] <= result["all_max_ms"]


@pytest.mark.timeout(240)
def test_scale_smoke() -> None:
    """The scale benchmark builds an archive and measures queries, reindex and the daemon."""
    result = bench("scale", "--sizes", "40", env={"GATEWATCH_BENCH_WATCHED": "100"})
    (size,) = result["sizes"]
    assert size["runs"] == 40
    assert size["reindex_runs_per_s"] > 0
    assert size["peak_rss_mb"] > 0
    assert size["approved_vs_python"] == pytest.approx(
        size["approved_ms"] / size["python_pass_ms"], abs=0.01
    )
    assert size["load_average_before"] >= 0
    assert size["load_average_after"] >= 0


@pytest.mark.timeout(240)
def test_scale_deployable_smoke() -> None:
    """The deployable timing builds catalogs of two sizes and times cold processes."""
    small, large = bench("scale", "--deployable", "50", "300")["deployable"]
    assert (small["runs"], large["runs"]) == (50, 300)
    assert 0 < small["symbols_deployable"] <= large["symbols_deployable"] <= 500
    assert large["deployable_vs_smallest"] > 0
    assert large["deployable_at_vs_smallest"] > 0


@pytest.mark.timeout(240)
def test_backlog_smoke() -> None:
    """The backlog benchmark starts a daemon on waiting files and times their archiving."""
    result = bench("backlog", "-n", "40")
    assert result["files"] == 40
    assert result["daemon_runs_per_s"] > 0
    assert result["bare_runs_per_s"] > 0


@pytest.mark.timeout(240)
def test_backlog_stall_case_smoke() -> None:
    """Rescans due faster than they finish: the backlog goes on and a new file jumps it."""
    result = bench(
        "backlog", "-n", "300", "--folders", "60", "--rescan-seconds", "0.02", "--drop", "--no-bare"
    )
    assert (result["files"], result["folders"]) == (300, 60)
    assert result["dropped_file_behind"] > 0  # archived before the backlog was done
    assert result["dropped_file_seconds"] < 5
    assert result["daemon_runs_per_s"] > 0


@pytest.mark.timeout(240)
def test_fuzz_smoke() -> None:
    """The fuzzer runs its cases and finds nothing but a prepared run or SummaryError."""
    result = bench("fuzz", "-n", "500")
    assert result["cases"] == 500
    assert result["failures"] == 0
    assert result["rejected"] + result["valid"] == 500


@pytest.mark.timeout(240)
def test_notify_smoke() -> None:
    """The notifications benchmark delivers every event of a small flood and drains the outbox."""
    result = bench("notify", "-n", "20", "--down-seconds", "0.3", "--drops", "3")
    assert result["runs"] == 20
    assert result["lost"] == 0
    assert result["in_order"] is True
    assert (result["outbox_end_segments"], result["outbox_end_bytes"]) == (0, 0)
    assert result["drops"] == 3
    assert 0 < result["drop_to_webhook_p50_ms"] <= result["drop_to_webhook_max_ms"]


@pytest.mark.timeout(240)
def test_regate_smoke() -> None:
    """The regate benchmark builds an archive, re-gates it alone, with workers and by CLI."""
    result = bench("regate", "-n", "120", "--workers", "2")
    assert (result["runs"], result["workers"]) == (120, 2)
    assert result["reports_agree"] is True
    assert result["changes"] > 0
    assert result["one_process_runs_per_s"] > 0


@pytest.mark.timeout(240)
def test_web_smoke() -> None:
    """The dashboard benchmark builds two archives and times every route on both."""
    result = bench("web", "--runs", "150", "--repeat", "2", "--decisions", "5")
    assert result["runs"] == 150
    assert len(result["routes"]) == 14
    for timing in result["routes"].values():
        assert timing["small_ms"] > 0
        assert timing["large_ms"] > 0
    assert set(result["whole"]) == {"/api/runs", "/api/history/SYM007", "/api/review"}
    for timing in result["whole"].values():
        assert 0 < timing["first_byte_ms"] <= timing["total_ms"]
    assert result["whole"]["/api/runs"]["mb"] > 0
    assert result["server_rss_mb_after_whole"] >= result["server_rss_mb_before_whole"] > 0


@pytest.mark.timeout(240)
def test_shared_smoke() -> None:
    """Three hosts and one host into a database: each distinct run stored once; a wide run
    timed into both kinds of archive."""
    result = bench("shared", "-n", "20", "--wide", "300")
    assert result["stored_runs"] == result["distinct_runs"] > 0
    assert result["one_host_runs_per_s"] > 0
    assert result["three_hosts_runs_per_s"] > 0
    assert result["wide_commit_lock_s"] > 0
    assert result["wide_folder_commit_s"] > 0


@pytest.mark.timeout(240)
def test_deployable_alone_takes_sizes_and_says_the_load() -> None:
    """`python -m benchmarks.deployable RUNS...` times each size and says the load average
    (it read sys.argv by hand: `--help` and `--json` were a traceback)."""
    result = bench("deployable", "50")
    (only,) = result["deployable"]
    assert only["runs"] == 50
    assert result["load_average_before"] >= 0
    assert result["load_average_after"] >= 0


@pytest.mark.timeout(240)
def test_big_summary_smoke() -> None:
    """The big-summary benchmark archives one file into its own archive ($GATEWATCH_CONFIG
    set elsewhere is not used) and gives both processes' peaks."""
    result = bench("big_summary", "-n", "2000", env={"GATEWATCH_CONFIG": "/nonexistent.toml"})
    assert result["models"] == 2000
    assert result["bare_peak_mb"] > 0
    assert result["ours_peak_mb"] > 0
    assert result["peak_ratio_ours_over_bare"] > 0


@pytest.mark.timeout(240)
def test_idle_smoke() -> None:
    """The idle benchmark runs the service past the watch limit and the bare walk."""
    result = bench("idle", "-n", "500", "-s", "5")
    assert result["folders"] == 500
    assert result["unwatched_folders"] >= 495
    assert result["idle_service_cpu_percent"] > 0
