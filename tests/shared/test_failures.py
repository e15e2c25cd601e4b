"""Shared mode under failure: a host killed at named points of a commit, PostgreSQL
restarted (fast and immediate) while hosts archive: nothing lost, nothing doubled."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gating.errors import ArchiveError
from gating.shared.archive import SharedArchive
from gating.shared.database import Database
from tests.conftest import make_summary
from tests.pg import Cluster
from tests.process import Daemon, wait_until
from tests.web.served import serving, write_config

pytestmark = pytest.mark.timeout(240)

DaemonFactory = Callable[..., Daemon]
CRASHED = 86


def drop(folder: Path, names: list[str]) -> None:
    """Summaries dropped by rename, as a training job writes them."""
    for name in names:
        temp = folder / f".{name}.tmp"
        temp.write_text(json.dumps(make_summary(name)), "utf-8")
        temp.rename(folder / f"{name}_summary.json")


def run_ids(shared: SharedArchive) -> list[str]:
    """The run_id of every run in the database, sorted."""
    return sorted(str(r["run_id"]) for r in shared.list_runs())


@pytest.mark.parametrize(
    ("point", "kept"), [("shared:before_commit", False), ("shared:committed", True)]
)
def test_a_host_killed_at_a_commit_loses_and_doubles_nothing(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, point: str, kept: bool
) -> None:
    """Killed inside the transaction: its group is not in the database; killed after the
    COMMIT: it is. Restarted, the host archives the rest, and each run is there once."""
    host = daemon_factory("host", archive={"dir": "archive", "url": pg_url})
    names = [f"r{i:02d}" for i in range(12)]
    drop(host.inbox, names)
    host.start(env={"GATEWATCH_CRASH_AT": point}, wait_ready=False)
    assert host.process is not None
    assert host.process.wait(timeout=60) == CRASHED
    assert bool(shared.list_runs()) is kept
    host.start()
    wait_until(lambda: run_ids(shared) == names, 60, "every run archived once")
    assert host.stop()[0] == 0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_restarted_while_hosts_archive(
    daemon_factory: DaemonFactory,
    pg_url: str,
    shared: SharedArchive,
    cluster: Cluster,
    mode: str,
) -> None:
    """Two hosts archiving while PostgreSQL stops (-m MODE) and starts again: afterwards
    every file of both is archived once, and both services still run."""
    hosts = [daemon_factory(f"h{i}", archive={"dir": "archive", "url": pg_url}) for i in (1, 2)]
    for host in hosts:
        host.start()
    drop(hosts[0].inbox, [f"a{i:02d}" for i in range(20)])
    drop(hosts[1].inbox, [f"b{i:02d}" for i in range(20)])
    cluster.stop(mode)
    drop(hosts[0].inbox, [f"c{i:02d}" for i in range(10)])
    cluster.start()
    expected = sorted([f"a{i:02d}" for i in range(20)] + [f"b{i:02d}" for i in range(20)]
                      + [f"c{i:02d}" for i in range(10)])  # fmt: skip
    try:
        wait_until(lambda: run_ids(shared) == expected, 120, "every run archived once")
    except AssertionError:
        missing = sorted(set(expected) - set(run_ids(shared)))
        raise AssertionError(f"missing {missing}\n{hosts[0].tail()}\n{hosts[1].tail()}") from None
    for host in hosts:
        assert host.process is not None
        assert host.process.poll() is None
        assert host.stop()[0] == 0


def test_the_dashboard_answers_503_within_seconds_while_postgresql_is_away(
    tmp_path: Path, pg_url: str, shared: SharedArchive, cluster: Cluster
) -> None:
    """PostgreSQL stopped under a real `gatewatch serve`: a page, /health and a POST
    /api/runs each answer 503 within seconds (each took a minute or two, past a sender's
    30 s timeout, and held a thread all that while), and answers again once it is back."""
    config = write_config(
        tmp_path, tmp_path / "local", submit_token_env="GATEWATCH_TEST_SUBMIT", url=pg_url
    )
    with serving(config, extra_env={"GATEWATCH_TEST_SUBMIT": "s" * 20}) as base:
        cluster.stop("fast")
        try:
            for path, data in [("/api/runs", None), ("/health", None), ("/api/runs", b"{}")]:
                request = urllib.request.Request(
                    base + path, data=data, headers={"Authorization": "Bearer " + "s" * 20}
                )
                began = time.monotonic()
                with pytest.raises(urllib.error.HTTPError) as answer:
                    urllib.request.urlopen(request, timeout=60)
                answer.value.close()
                assert answer.value.code == 503, path
                assert time.monotonic() - began < 15, path
        finally:
            cluster.start()
        wait_until(lambda: answers_ok(base + "/api/runs"), 60, "answers once it is back")


def answers_ok(url: str) -> bool:
    """Whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


def test_a_file_that_failed_while_postgresql_was_away_is_archived_as_soon_as_it_is_back(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive, cluster: Cluster
) -> None:
    """A file failed three times while PostgreSQL was away (its next try 20 s off): once the
    service's heartbeat finds the database back, the file is tried at once (it waited for
    its backoff, up to 10 minutes)."""
    host = daemon_factory("host", archive={"dir": "archive", "url": pg_url})
    host.start(env={"GATEWATCH_TEST_RETRY_SECONDS": "1"})
    cluster.stop("fast")
    try:
        drop(host.inbox, ["late"])
        host.wait_for_event("archive_failed", timeout=90, attempts=3)
    finally:
        cluster.start()
    back = time.monotonic()
    wait_until(lambda: run_ids(shared) == ["late"], 60, "the file archived")
    assert time.monotonic() - back < 12, host.tail()
    host.wait_for_event("heartbeat_resumed", timeout=10)
    assert host.stop()[0] == 0


def test_once_postgresql_is_found_away_each_write_gives_up_within_seconds(
    pg_url: str, cluster: Cluster
) -> None:
    """PostgreSQL stopped: the first write is retried for retry_seconds, each one after it
    gives up within about a second with the same reason (each waited retry_seconds again,
    so a service's worker took a minute a file), and writes succeed once it is back."""
    archive = SharedArchive(pg_url, retry_seconds=4)
    try:
        archive.archive_training_run(make_summary("before"))
        cluster.stop("fast")
        try:
            began = time.monotonic()
            with pytest.raises(ArchiveError, match="cannot connect") as first:
                archive.archive_training_run(make_summary("a"))
            assert time.monotonic() - began >= 4
            for name in ("b", "c", "d"):
                began = time.monotonic()
                with pytest.raises(ArchiveError) as later:
                    archive.archive_training_run(make_summary(name))
                assert str(later.value) == str(first.value)
                assert time.monotonic() - began < 3, name
        finally:
            cluster.start()

        def archived() -> bool:
            with contextlib.suppress(ArchiveError):
                archive.archive_training_run(make_summary("after"))
                return True
            return False

        wait_until(archived, 60, "a write succeeds once PostgreSQL is back")
        assert run_ids(archive) == ["after", "before"]
    finally:
        archive.close()


@pytest.mark.parametrize(
    "statements",
    [
        ["SET LOCAL statement_timeout = 50", "SELECT pg_sleep(10)"],
        [
            "CREATE TEMP TABLE wide (x text PRIMARY KEY)",
            "INSERT INTO wide SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i",
        ],
    ],
    ids=["statement-timeout", "index-row-too-large"],
)
def test_an_error_trying_again_cannot_mend_is_one_line_at_once(
    pg_url: str, statements: list[str]
) -> None:
    """A statement cut at its timeout, or a row past an index's limit, is one ArchiveError
    at once (each was retried for the whole minute, holding up every other file)."""
    database = Database(pg_url, retry_seconds=30)

    def work(connection: Any) -> None:
        for statement in statements:
            connection.execute(statement)

    began = time.monotonic()
    try:
        with pytest.raises(ArchiveError, match=r"statement timeout|index row"):
            database.retrying(work)
    finally:
        database.close()
    assert time.monotonic() - began < 10


def opened(url: str) -> int:
    """How many connections gatewatch holds to the database of ``url``."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'gatewatch'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(60)
def test_connections_unused_for_a_while_are_given_back(pg_url: str) -> None:
    """Connections a burst opened are closed once unused for idle_seconds (a service kept
    four for 10 min, and other hosts found no connection free under a low
    max_connections)."""
    database = Database(pg_url, idle_seconds=1.0)
    try:
        barrier = threading.Barrier(3)

        def hold(connection: Any) -> None:
            barrier.wait(10)  # three at once: the pool opens three connections

        threads = [threading.Thread(target=database.retrying, args=(hold,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert opened(pg_url) == 3
        wait_until(lambda: opened(pg_url) == 0, 20, "the idle connections closed")
    finally:
        database.close()
