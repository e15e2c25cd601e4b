"""The dashboard in a real browser (Debian's chromium driven by Playwright), no network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from gating import TrainingArchiveManager
from tests.web.conftest import HOSTILE, HOSTILE_SOURCE, TOKEN, url_of
from tests.web.served import TOKEN_ENV, serving, write_config

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless chromium (the system's: nothing is downloaded)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that fails the test if any dialog (an alert from injected script) opens."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    context.close()
    assert dialogs == [], f"script ran in the page: {dialogs}"


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $GATEWATCH_SCREENSHOTS (e.g. docs) or the test's temp folder."""
    return Path(os.environ.get("GATEWATCH_SCREENSHOTS") or tmp_path)


def test_read_only_pages_in_the_browser(
    tmp_path: Path, archive: TrainingArchiveManager, page: Page
) -> None:
    """Every page loads; hostile text is shown as text; no buttons; a forged POST is 403."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    first, latest = (run["timestamp"] for run in archive.list_runs())
    with serving(config) as base:
        page.goto(base + "/")
        assert page.title() == "Home · gatewatch"
        runs = page.locator("#runs").inner_text()
        assert HOSTILE in runs
        assert HOSTILE_SOURCE in runs
        assert page.locator("#health").inner_text().startswith("Service: not running")
        assert page.locator("text=read-only").count() == 1
        page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-home.png"), full_page=True)

        page.goto(f"{base}/runs/{latest}")
        assert page.locator("#run-id").inner_text() == HOSTILE
        assert HOSTILE in page.locator("#group-DROP").inner_text()
        assert page.locator("#group-REVIEW svg.spark").count() == 1

        page.goto(f"{base}/runs/{first}")
        assert "restore the checkpoint at step 3,000" in page.locator("main").inner_text()

        page.locator("a", has_text="BTC/USD").first.click()
        page.wait_for_url(f"{base}/symbols/BTC%2FUSD")
        assert page.locator("#symbol").inner_text() == "BTC/USD"
        assert page.locator("svg.chart g.point").count() == 8
        assert page.locator("#history tbody tr").count() == 2
        page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-symbol.png"), full_page=True)

        page.goto(f"{base}/symbols/{quote(HOSTILE, safe='')}")
        assert page.locator("#symbol").inner_text() == HOSTILE

        page.fill("input[name=symbol]", "AAPL")
        page.click("form.find button")
        page.wait_for_url(f"{base}/symbols/AAPL")

        page.goto(base + "/review")
        assert page.locator("button", has_text="Approve").count() == 0
        assert page.locator("#sign-in").count() == 0
        forged = page.request.post(
            base + "/review/decide",
            form={"timestamp": first, "symbol": "AAPL", "verdict": "approve", "reason": "x"},
            headers={"Origin": base},
        )
        assert forged.status == 403
        assert page.goto(base + "/login") is not None
        assert "404" in page.locator("h1").inner_text()


def test_approve_a_model_with_the_token(
    tmp_path: Path, archive: TrainingArchiveManager, page: Page
) -> None:
    """Sign in with the token, approve AAPL with a reason: the queue and the champion change."""
    config = write_config(tmp_path, archive.archive_dir, token_env=TOKEN_ENV, url=url_of(archive))
    with serving(config, token=TOKEN) as base:
        page.goto(base + "/login")
        page.fill("input[name=token]", "wrong")
        page.click("form.login button")
        assert page.locator("#error").inner_text() == "wrong token"
        page.fill("input[name=token]", TOKEN)
        page.click("form.login button")
        page.wait_for_url(base + "/review")
        assert page.locator("text=Sign out").count() == 1
        page.goto(base + "/symbols/AAPL")  # seen before the decision: nothing stale after it
        assert page.locator("#champion").count() == 0
        page.goto(base + "/review")
        row = page.locator("#queue tbody tr", has_text="AAPL")
        assert row.count() == 1
        row.locator("input[name=by]").fill("ann")
        row.locator("input[name=reason]").fill("steady across regimes, checked by hand")
        row.locator("button.approve").click()
        page.wait_for_url(f"{base}/review?decided=*")
        assert "APPROVED AAPL" in page.locator("#notice").inner_text()
        assert page.locator("#queue tbody tr", has_text="AAPL").count() == 0
        page.goto(base + "/symbols/AAPL")
        assert page.locator("#champion").count() == 1
        assert "ann" in page.locator("#history").inner_text()
        page.goto(base + "/")
        assert "AAPL" in page.locator("#deployable").inner_text()


@pytest.mark.parametrize("width", [420, 1200])
def test_the_symbol_chart_fills_its_card_and_is_never_clipped(
    tmp_path: Path, archive: TrainingArchiveManager, browser: Browser, width: int
) -> None:
    """At 420 px and at 1200 px the chart is as wide as its card and inside the window,
    and the page itself never scrolls sideways (a wide table scrolls in its own box)."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    with serving(config) as base:
        page.goto(f"{base}/symbols/BTC%2FUSD")
        chart = page.locator("svg.chart").bounding_box()
        card = page.locator("figure.chart").bounding_box()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert chart is not None
    assert card is not None
    assert chart["x"] >= 0
    assert chart["x"] + chart["width"] <= width
    assert chart["width"] >= 0.9 * card["width"]
    assert scroll_width <= width
