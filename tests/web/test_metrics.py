"""Tests for daemon.web.metrics: the metric families of one scrape, from what was read."""

from __future__ import annotations

import pytest

from daemon.status import Health
from daemon.web.metrics import archive_metrics

NOW = 1_796_601_600.0  # 2026-12-07T00:00:00Z


@pytest.mark.parametrize(
    ("latest", "age"),
    [
        (None, None),
        ("20261206T235900000000Z", 60.0),
        ("zzzz-by-hand", None),  # a row written into the database by hand
        ("20270101T000000000000Z", 0.0),  # ahead of the clock: never a negative age
    ],
)
def test_the_newest_runs_age_is_shown_only_for_a_run_timestamp(
    latest: str | None, age: float | None
) -> None:
    """gatewatch_seconds_since_last_archive is the newest run's age, absent with no run or
    a newest timestamp that is not one (that was a 500 with a traceback)."""
    totals = {"runs": 1, "approved": 0, "review": 0, "dropped": 0, "latest": latest}
    health = Health("not running", 3, "no status.json")
    families = archive_metrics(
        totals, rejected=0, decisions=None, pending=None, status=None, health=health, now=NOW
    )
    ages = [
        f.samples[0].value for f in families if f.name == "gatewatch_seconds_since_last_archive"
    ]
    assert ages == ([] if age is None else [age])


@pytest.mark.parametrize(
    ("state", "failing_since", "up", "failing_seconds"),
    [
        ("healthy", None, 1, 0.0),
        ("failing", "2026-12-06T23:58:00.000Z", 1, 120.0),
        ("stale", "2026-12-06T23:58:00.000Z", 0, None),
    ],
)
def test_a_service_whose_archives_fail_is_up_and_says_for_how_long(
    state: str, failing_since: str | None, up: int, failing_seconds: float | None
) -> None:
    """A service that runs but cannot archive is still up, with its queue and counters, and
    gatewatch_archive_failing_seconds says how long every archive has failed."""
    totals = {"runs": 0, "approved": 0, "review": 0, "dropped": 0, "latest": None}
    status = {"queue_depth": 3, "counters": {"failed": 4},
              "archive_failing_since": failing_since}  # fmt: skip
    health = Health(state, 0 if state == "healthy" else 1, "why")
    scraped = archive_metrics(
        totals, rejected=0, decisions=None, pending=None, status=status, health=health, now=NOW
    )
    families = {f.name: f for f in scraped}
    assert families["gatewatch_service_up"].samples[0].value == up
    failing = families.get("gatewatch_archive_failing_seconds")
    assert (failing and failing.samples[0].value) == failing_seconds
    assert ("gatewatch_queue_depth" in families) is bool(up)
