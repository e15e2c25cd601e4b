"""Two dashboards (two real `gatewatch serve` processes, two browsers) over one shared
archive, two reviewers deciding the same model: one wins, the other is told (409)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from gating.shared.archive import SharedArchive
from tests.conftest import make_summary
from tests.web.conftest import TOKEN
from tests.web.served import TOKEN_ENV, serving

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


def _config(folder: Path, url: str) -> Path:
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        f'[archive]\ndir = "{folder / "local"}"\nurl = "{url}"\n'
        f'[serve]\ntoken_env = "{TOKEN_ENV}"\n[logging]\nformat = "json"\n',
        "utf-8",
    )
    return path


def _signed_in(browser: Browser, base: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(base + "/login")
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button")
    page.wait_for_url(base + "/review")
    return page


def test_two_reviewers_deciding_one_model_one_wins_the_other_is_told(
    tmp_path: Path, pg_url: str, shared: SharedArchive, browser: Browser
) -> None:
    """Both load the queue, both decide SYM1: the first is recorded, the second gets a
    409 page naming the first; the audit holds one decision."""
    run = shared.archive_training_run(make_summary("desk"))
    with (
        serving(_config(tmp_path / "a", pg_url), token=TOKEN) as first,
        serving(_config(tmp_path / "b", pg_url), token=TOKEN) as second,
    ):
        pages = [_signed_in(browser, first), _signed_in(browser, second)]
        rows = []
        for page, who in zip(pages, ("ann", "bob"), strict=True):
            row = page.locator("#queue tbody tr", has_text="SYM1")
            assert row.count() == 1
            row.locator("input[name=by]").fill(who)
            row.locator("input[name=reason]").fill(f"{who} checked it")
            rows.append(row)
        rows[0].locator("button.approve").click()
        pages[0].wait_for_url(f"{first}/review?decided=*")
        with pages[1].expect_response(lambda r: r.url.endswith("/review/decide")) as answer:
            rows[1].locator("button.drop").click()
        assert answer.value.status == 409
        assert "decided meanwhile: APPROVED by ann" in pages[1].locator("#error").inner_text()
    audit = shared.decisions()
    assert [(d.timestamp, d.symbol, d.verdict, d.by) for d in audit] == [
        (run.timestamp, "SYM1", "APPROVED", "ann")
    ]
