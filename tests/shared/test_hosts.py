"""Several `gatewatch run` processes, one per "host", archiving into one database (SPEC 13):
the same bytes become one run whichever host sees them first; every run once."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from benchmarks.common import gatewatch_command
from gating.shared.archive import FORGET_SECONDS, SharedArchive
from tests.conftest import make_summary
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
    pid, version, last seen by the database's clock); a stopped one leaves the list."""
    hosts = [daemon_factory(f"s{i}", archive={"dir": "archive", "url": pg_url}) for i in range(2)]
    for host in hosts:
        host.start()
    pids = sorted(h.process.pid for h in hosts if h.process is not None)

    def listed() -> list[int]:
        return sorted(int(str(s["pid"])) for s in shared.services())

    wait_until(lambda: listed() == pids, 20, "both services heartbeating")
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
