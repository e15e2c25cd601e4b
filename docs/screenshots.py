"""Take the docs' dashboard screenshots from a realistic archive with the service running.

    python -m docs.screenshots [--out docs]

Builds an archive of three weeks of a desk's runs (six symbols, two runs a day, the clock
moved forward between them), decides a few models, starts the real `gatewatch run` on it
and `gatewatch serve` beside it, then photographs the home page and a symbol's page with
Debian's chromium at 1200 px (and the symbol page at 420 px, to see nothing is clipped).
"""

from __future__ import annotations

import argparse
import functools
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

from benchmarks.common import gatewatch_command
from gating import TrainingArchiveManager
from tests.process import wait_until
from tests.web.served import serving, write_config

if TYPE_CHECKING:
    from playwright.sync_api import Page

SYMBOLS = ("AAPL", "BTC/USD", "ETH/USD", "MSFT", "NVDA", "SPY")
DAY_NS = 86_400 * 10**9


def _model(rng: random.Random, day: int, skill: float) -> dict[str, object]:
    """One model's metrics, improving slowly with noise (some days REVIEW or DROP)."""
    base = skill + day * 0.004 + rng.gauss(0, 0.06)
    history = [round(max(0.1, base - 0.3 + i * 0.06 + rng.gauss(0, 0.03)), 3) for i in range(6)]
    return {
        "fitness": round(base, 3),
        "pf": round(1.2 + base * 1.1 + rng.gauss(0, 0.15), 2),
        "consistency": round(min(0.97, 0.6 + base * 0.35 + rng.gauss(0, 0.03)), 3),
        "max_dd": round(max(0.02, 0.16 - base * 0.12 + rng.gauss(0, 0.015)), 3),
        "history": history,
    }


def build(archive: Path, days: int = 21) -> None:
    """Two runs a day for ``days`` days, stamped as if archived then, and some decisions."""
    rng = random.Random(7)
    skill = {symbol: rng.uniform(0.62, 0.78) for symbol in SYMBOLS}
    start = time.time_ns() - days * DAY_NS
    manager = TrainingArchiveManager(archive)
    for day in range(days):
        for half in range(2):
            when = start + day * DAY_NS + (9 + 8 * half) * 3600 * 10**9
            summary = {
                "run_id": f"ppo-{day:02d}{'ab'[half]}",
                "validation_interval": 5000,
                "models": {s: _model(rng, day, skill[s]) for s in SYMBOLS},
            }
            with mock.patch("gating.archive.layout.time.time_ns", return_value=when):
                manager.archive_training_run(summary, source=f"/srv/training/output/{day}.json")
    for entry in manager.pending_reviews(3):
        verdict = "approve" if entry.model.get("fitness", 0) >= 0.66 else "drop"
        manager.decide(
            entry.timestamp, entry.symbol, verdict, by="ann", reason="checked the equity curve"
        )
    manager.close()


def _shows_healthy(page: Page, url: str) -> bool:
    """Load the home page; whether it shows the service healthy."""
    page.goto(url)
    return "healthy" in page.locator("#health").inner_text()


def main(argv: list[str] | None = None) -> int:
    """Build the archive, run the service and the dashboard, take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a docs tool's extra

    with tempfile.TemporaryDirectory() as where:
        root = Path(where)
        archive = root / "archive"
        build(archive)
        (root / "in").mkdir()
        service_config = root / "config.toml"
        service_config.write_text(
            f'[watch]\npaths = ["{root / "in"}"]\n[archive]\ndir = "{archive}"\n', "utf-8"
        )
        service = subprocess.Popen(
            [*gatewatch_command(), "--config", str(service_config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until((archive / "status.json").exists, 30, "the service's status")
            with serving(write_config(root, archive)) as base, sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
                )
                for width, suffix in ((1200, ""), (420, "-narrow")):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    wait_until(
                        functools.partial(_shows_healthy, page, base + "/"),
                        30,
                        "the home page to show the service healthy",
                    )
                    if not suffix:
                        page.screenshot(path=str(args.out / "dashboard-home.png"), full_page=True)
                    page.goto(base + "/symbols/BTC%2FUSD")
                    page.screenshot(
                        path=str(args.out / f"dashboard-symbol{suffix}.png"), full_page=True
                    )
                    page.close()
                browser.close()
        finally:
            service.terminate()
            service.wait(timeout=30)
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
