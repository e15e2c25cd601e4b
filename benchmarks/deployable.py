"""`gatewatch deployable` as a cold process against archive size (issue 12): every symbol's
champion, 10 symbols of 500 in each run, and the same 300 decisions at every size.

    python -m benchmarks.scale --deployable 1000 1000000   # the same as:
    python -m benchmarks.deployable 1000 1000000

The archives hold a catalog alone (what `deployable` reads), built in a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import gatewatch_command, load_average
from benchmarks.scale import PER_RUN, SYMBOLS
from gating.archive.catalog import Catalog
from gating.archive.layout import CATALOG_NAME, ts_from_micros, ts_micros
from gating.verdicts import Decision, iso_from_micros

DEPLOY_DECISIONS = 300  # at every size, so only the number of runs changes
_DEPLOY_BASE = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z, in microseconds
_GRADES = (("APPROVED", 0.8, 2.0, 0.9, 0.05), ("REVIEW", 0.6, 1.5, 0.7, 0.1),
           ("DROP", 0.3, 1.0, 0.5, 0.2))  # fmt: skip


def _deploy_entry(index: int, rng: random.Random) -> dict[str, Any]:
    """One catalog entry: run ``index`` (one per second) of 10 random symbols."""
    timestamp = ts_from_micros(_DEPLOY_BASE + index * 1_000_000)
    models = {}
    for symbol in rng.sample(SYMBOLS, PER_RUN):
        grade, fitness, pf, consistency, drawdown = rng.choices(_GRADES, (2, 3, 5))[0]
        models[symbol] = {"classification": grade, "flags": [], "fitness": fitness,
                          "profit_factor": pf, "consistency": consistency,
                          "max_drawdown": drawdown, "use_checkpoint": False, "best_idx": 0,
                          "checkpoint_step": 1000}  # fmt: skip
    counts = [sum(m["classification"] == g for m in models.values()) for g, *_ in _GRADES]
    return {"timestamp": timestamp, "run_id": f"d-{index:07d}", "sha256": f"{index:064x}",
            "source": None, "approved": counts[0], "review": counts[1], "dropped": counts[2],
            "models": models}  # fmt: skip


def build_deploy_catalog(root: Path, runs: int) -> str:
    """A catalog-only archive (what `deployable` reads) of ``runs`` runs and the decisions.

    Decisions drop the newest gate-APPROVED model of 100 symbols (so the walk for them
    goes past it) and approve REVIEW models; returns the middle run's time (for --at).
    """
    rng = random.Random(runs)
    catalog = Catalog(root / CATALOG_NAME, durable=False)
    root.mkdir(parents=True)
    catalog.rebuild([], [])  # marks the catalog built: no run folders to find
    newest: dict[str, tuple[str, str]] = {}  # symbol -> (timestamp, classification) newest
    picks: list[tuple[str, str, str]] = []
    batch: list[dict[str, Any]] = []
    for index in range(runs):
        entry = _deploy_entry(index, rng)
        batch.append(entry)
        for symbol, model in entry["models"].items():
            newest[symbol] = (entry["timestamp"], model["classification"])
            if model["classification"] == "REVIEW" and rng.random() < DEPLOY_DECISIONS / runs / 5:
                picks.append((entry["timestamp"], symbol, "REVIEW"))
        if len(batch) == 20_000:
            catalog.add_runs(batch)
            batch.clear()
    catalog.add_runs(batch)
    approved = [(t, s, c) for s, (t, c) in newest.items() if c == "APPROVED"][:100]
    chosen = (picks + approved)[-DEPLOY_DECISIONS:]
    decisions = []
    for seq, (timestamp, symbol, grade) in enumerate(sorted(chosen), 1):
        decided = iso_from_micros(ts_micros(timestamp) + 1_000_000 + seq)
        verdict = "DROP" if grade == "APPROVED" else "APPROVED"
        decisions.append(Decision(seq, timestamp, symbol, verdict, grade, grade,
                                  grade == "APPROVED", "bench", "benchmark", decided))  # fmt: skip
    decisions.sort(key=lambda d: d.decided_at)
    catalog.add_decisions([dataclasses.replace(d, seq=seq) for seq, d in enumerate(decisions, 1)])
    catalog.close()
    return ts_from_micros(_DEPLOY_BASE + runs // 2 * 1_000_000)


def _once_ms(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def measure_deployable(sizes: list[int], root: Path, rounds: int = 9) -> list[dict[str, Any]]:
    """`gatewatch deployable --json` (now, and --at the middle run) as cold processes per size.

    Every size is built first; then the sizes are timed in turn, round after round, so the
    machine's ups and downs hit them alike. Medians; each size against the first one.
    """
    commands: list[tuple[list[str], list[str]]] = []
    results: list[dict[str, Any]] = []
    for size in sizes:
        where = root / f"deployable-{size}"
        began = time.perf_counter()
        middle = build_deploy_catalog(where / "archive", size)
        built = time.perf_counter() - began
        (where / "config.toml").write_text('[archive]\ndir = "archive"\n', "utf-8")
        cli = [*gatewatch_command(), "--config", str(where / "config.toml"), "deployable", "--json"]
        done = subprocess.run(cli, check=True, capture_output=True, text=True)  # warms the cache
        commands.append((cli, [*cli, "--at", middle]))
        results.append({
            "runs": size,
            "build_s": round(built, 1),
            "symbols_deployable": len(json.loads(done.stdout)),
            "catalog_mb": round((where / "archive" / CATALOG_NAME).stat().st_size / 1e6),
        })  # fmt: skip
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in sizes]
    for _ in range(rounds):
        for (now, at), (now_ms, at_ms) in zip(commands, times, strict=True):
            now_ms.append(_once_ms(now))
            at_ms.append(_once_ms(at))
    for result, (now_ms, at_ms) in zip(results, times, strict=True):
        result["deployable_ms"] = round(statistics.median(now_ms), 1)
        result["deployable_at_ms"] = round(statistics.median(at_ms), 1)
        for key in ("deployable_ms", "deployable_at_ms"):
            result[key.replace("_ms", "_vs_smallest")] = round(result[key] / results[0][key], 2)
    return results


def deployable_main(sizes: list[int]) -> int:
    """Time `deployable` at each size; print the figures as one JSON document."""
    root = Path(tempfile.mkdtemp(prefix="gatewatch-scale-"))
    before = load_average()
    try:
        figures = measure_deployable(sizes, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    after = load_average()  # what else ran meanwhile, for the figures in the docs
    print(json.dumps({"deployable": figures, "load_average_before": before,
                      "load_average_after": after}))  # fmt: skip
    return 0


def main() -> int:
    """Time `deployable` at the sizes given (1,000 and 1,000,000 by default)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "sizes", type=int, nargs="*", metavar="RUNS", default=[1000, 1_000_000],
        help="archive sizes to time `deployable` at (default: 1000 1000000)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="(it prints JSON either way)")
    return deployable_main(parser.parse_args().sizes)


if __name__ == "__main__":
    sys.exit(main())
