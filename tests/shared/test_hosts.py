"""Several `gatewatch run` processes, one per "host", archiving into one database (SPEC 13):
the same bytes become one run whichever host sees them first; every run once."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from benchmarks.common import gatewatch_command
from gating import ModelGatingConfig
from gating.shared.archive import FORGET_SECONDS, SharedArchive
from gating.shared.database import shown_url
from gating.shared.writer import COMMIT_LOCK
from tests.conftest import make_model, make_summary
from tests.process import Daemon, wait_until

pytestmark = pytest.mark.timeout(180)

DaemonFactory = Callable[..., Daemon]


def _write(folder: Path, name: str, data: bytes) -> None:
    """Drop a summary the way a training job does: a temp name, then a rename."""
    temp = folder / f".{name}.tmp"
    temp.write_bytes(data)
    temp.rename(folder / name)


def test_three_hosts_archive_each_distinct_summary_once(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive
) -> None:
    """300 files over three hosts, 30% of them the same bytes on every host: runs ==
    distinct sha256, timestamps strictly increasing, every run_archived event once."""
    hosts = [
        daemon_factory(f"host{i}", archive={"dir": "archive", "url": pg_url}) for i in range(3)
    ]
    for host in hosts:
        host.start()
    rng = random.Random(7)
    common = [json.dumps(make_summary(f"common-{i}")).encode() for i in range(30)]
    own = [[json.dumps(make_summary(f"h{h}-{i}")).encode() for i in range(70)] for h in range(3)]
    digests: set[str] = set()
    for h, host in enumerate(hosts):
        files = [(f"c{i}_summary.json", data) for i, data in enumerate(common)]
        files += [(f"o{i}_summary.json", data) for i, data in enumerate(own[h])]
        rng.shuffle(files)
        for name, data in files:
            _write(host.inbox, name, data)
            digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == 30 + 3 * 70

    def archived() -> bool:
        return bool(shared.reader.totals()["runs"] >= len(digests))

    wait_until(archived, 120, "every distinct summary archived")
    for host in hosts:
        assert host.stop()[0] == 0
    runs = shared.list_runs()
    assert len(runs) == len(digests)
    stamps = [run["timestamp"] for run in runs]
    assert stamps == sorted(set(stamps))
    handled = sum(len(h.events("run_archived")) + len(h.events("duplicate_skipped")) for h in hosts)
    assert handled == 300
    with shared.database.connection() as connection:
        events = connection.execute(
            "SELECT id, count(*) FROM events WHERE type = 'run_archived' GROUP BY id"
        ).fetchall()
    assert len(events) == len(digests)
    assert all(count == 1 for _, count in events)


def test_status_lists_every_service_of_the_database(
    daemon_factory: DaemonFactory, pg_url: str, shared: SharedArchive
) -> None:
    """Two services heartbeat into the database: `gatewatch status` lists both (host,
    pid, version, last seen by the database's clock); a stopped one leaves the list. Each
    names the database in its first log line."""
    hosts = [daemon_factory(f"s{i}", archive={"dir": "archive", "url": pg_url}) for i in range(2)]
    for host in hosts:
        host.start()
    pids = sorted(h.process.pid for h in hosts if h.process is not None)

    def listed() -> list[int]:
        return sorted(int(str(s["pid"])) for s in shared.services())

    wait_until(lambda: listed() == pids, 20, "both services heartbeating")
    started = hosts[0].events("daemon_started")[0]  # the log names the database, not its user
    assert started["database"] == shown_url(pg_url)
    done = subprocess.run(
        [*gatewatch_command(), "status", "--json", "--config", str(hosts[0].config_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert sorted(s["pid"] for s in document["services"]) == pids
    assert all(s["seen_seconds_ago"] < 30 for s in document["services"])
    assert hosts[1].stop()[0] == 0
    wait_until(lambda: listed() == pids[:1] or listed() == pids[1:], 20, "one left")
    assert hosts[0].stop()[0] == 0


def test_a_service_gone_for_a_day_is_forgotten_by_the_next_heartbeat(
    shared: SharedArchive, pg_url: str
) -> None:
    """A row last seen over FORGET_SECONDS ago (a service killed with -9) is deleted by
    another service's heartbeat; one gone for less is still listed (as gone)."""
    shared.heartbeat("killed", 11, "1.0", 0.0)
    shared.heartbeat("paused", 12, "1.0", 0.0)
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE services SET last_seen = clock_timestamp() - make_interval(secs => %s) "
            "WHERE host = 'killed'",
            (FORGET_SECONDS + 60,),
        )
        connection.execute(
            "UPDATE services SET last_seen = clock_timestamp() - make_interval(secs => %s) "
            "WHERE host = 'paused'",
            (FORGET_SECONDS - 600,),
        )
    assert {s["host"] for s in shared.services()} == {"killed", "paused"}
    shared.heartbeat("alive", 13, "1.0", 0.0)
    assert {s["host"] for s in shared.services()} == {"paused", "alive"}


def test_a_run_committed_while_a_decision_is_in_flight_sees_that_decision(
    pg_url: str, tmp_path: Path
) -> None:
    """A decision stamped but not yet committed holds a commit back until it is: the run,
    stamped after it, is held against the champion it made (a run archived meanwhile on
    another host was held against the champion before, so a record, `deployable --at` and
    `regate` disagreed about the same moment)."""
    config = ModelGatingConfig(champion_tolerances={"fitness": 0.02})
    reviewer = SharedArchive(pg_url, config, archive_dir=tmp_path / "a", retry_seconds=20)
    writer = SharedArchive(pg_url, config, archive_dir=tmp_path / "b", retry_seconds=20)
    try:
        reviewer.archive_training_run(_aapl("r1", 0.90))
        second = reviewer.archive_training_run(_aapl("r2", 0.85))
        assert second.assessments[0].classification == "REVIEW"  # 5.6% below r1
        with psycopg.connect(pg_url) as blocker, ThreadPoolExecutor(2) as pool:
            blocker.execute("LOCK TABLE decisions IN EXCLUSIVE MODE")  # the decision's INSERT waits
            decided = pool.submit(
                reviewer.decide, second.timestamp, "AAPL", "approve", by="ann", reason="ok"
            )
            wait_until(lambda: _waiting(pg_url, "Lock", "relation"), 20, "the decision in flight")
            archived = pool.submit(writer.archive_training_run, _aapl("r3", 0.84))
            wait_until(
                lambda: archived.done() or _waiting(pg_url, "Lock", "advisory"), 20, "the commit"
            )
            assert not archived.done()  # held back while the decision is in flight
            blocker.rollback()
            decision, third = decided.result(timeout=20), archived.result(timeout=20)
        assert third.timestamp > decision.decided_at.translate(str.maketrans("", "", "-:."))
        assert third.assessments[0].classification == "APPROVED"  # 1.2% below r2, its champion
        assert third.assessments[0].champion is not None
        assert third.assessments[0].champion.timestamp == second.timestamp
    finally:
        reviewer.close()
        writer.close()


def test_a_rejection_s_event_waits_for_a_commit_in_flight(pg_url: str, tmp_path: Path) -> None:
    """Events commit in the order of their positions: a rejection beside a commit in flight
    waits for it (its event took the next position and committed first, so a sender that
    read it moved its cursor past the commit's event, which was never delivered)."""
    archive = SharedArchive(pg_url, archive_dir=tmp_path / "a", retry_seconds=20)
    try:
        with psycopg.connect(pg_url) as commit, ThreadPoolExecutor(1) as pool:
            commit.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
            commit.execute(
                "INSERT INTO events (id, type, body) VALUES ('first', 'run_archived', '{}')"
            )
            rejected = pool.submit(archive.writer.reject, b"x", source="s.json", reason="not JSON")
            wait_until(
                lambda: rejected.done() or _waiting(pg_url, "Lock", "advisory"), 20, "the rejection"
            )
            assert not rejected.done()  # held back while the commit is in flight
            commit.commit()
            rejected.result(timeout=20)
        with psycopg.connect(pg_url) as connection:
            rows = connection.execute("SELECT id, type FROM events ORDER BY position").fetchall()
        assert [row[1] for row in rows] == ["run_archived", "file_rejected"]
    finally:
        archive.close()


def _aapl(run_id: str, fitness: float) -> dict[str, object]:
    """A summary of one model, AAPL, of this fitness."""
    return {"run_id": run_id, "models": {"AAPL": make_model(fitness)}}


def _waiting(url: str, event_type: str, event: str) -> bool:
    """Whether a session of the database waits on a lock of this kind."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = %s AND wait_event = %s",
            (event_type, event),
        ).fetchone()
    return row is not None and row[0] > 0
