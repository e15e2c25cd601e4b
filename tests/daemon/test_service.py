"""The service in-process with injected seams: the inotify watch limit, a stop at start, a
rebuild after READY."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from benchmarks.idle import FiveWatches
from daemon.config import parse_config
from daemon.service import EXTEND_EVERY_SECONDS, Service
from gating import TrainingArchiveManager
from gating.archive.reindexing import PendingReindex
from tests.conftest import summary_bytes
from tests.daemon.fakes import FakeClock
from tests.process import wait_until

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def serving(service: Service) -> Iterator[list[MutableMapping[str, Any]]]:
    """The service serving on a thread, ready; its captured log lines. It is stopped on the
    way out, and serve() must have returned 0."""
    status: list[int] = []
    with capture_logs() as logs:
        thread = threading.Thread(target=lambda: status.append(service.serve()))
        thread.start()
        try:
            wait_until(lambda: [e for e in logs if e["event"] == "daemon_ready"], 15, "ready")
            yield logs
        finally:
            service.stop_requested.set()
            thread.join(15)
    assert status == [0]


def five_watches(tmp_path: Path) -> Service:
    """A service on tmp_path/in whose inotify has five watches, its rescan 10 minutes away."""
    document = {
        "watch": {"paths": ["in"], "settle_seconds": 0.2, "observer": "native"},
        "archive": {"dir": "archive"},
        "schedule": {"rescan_seconds": 600},
    }
    return Service(parse_config(document, tmp_path), inotify=FiveWatches)


def test_watch_limit_is_logged_once_shown_and_the_unwatched_folders_are_polled(
    tmp_path: Path,
) -> None:
    """At the watch limit: one watch_limit_reached line, the count, and polling for the rest."""
    inbox = tmp_path / "in"
    for index in range(20):
        (inbox / f"job-{index:02d}").mkdir(parents=True)
    service = five_watches(tmp_path)
    with serving(service) as logs:
        # 21 folders, 5 watches: watchdog either keeps the 5 it got (16 left to poll) or,
        # as some of its releases do while the emitter starts, gives the root up (all 21).
        assert service.unwatched_folders in {16, 21}
        (limit,) = [e for e in logs if e["event"] == "watch_limit_reached"]
        assert limit["unwatched_folders"] == service.unwatched_folders
        assert limit["sysctl"] == "fs.inotify.max_user_watches"
        assert limit["log_level"] == "warning"
        unwatched = service.watcher.poll_roots()[-1]
        (unwatched / "late_summary.json").write_bytes(summary_bytes("late"))
        wait_until(
            lambda: [e for e in logs if e.get("run_id") == "late"],
            15,  # the rescan is 10 minutes away: only the polling can find it
            "the file in an unwatched folder",
        )
        for index in range(20):  # deleted: no longer counted (they were, for good)
            shutil.rmtree(inbox / f"job-{index:02d}")
        wait_until(lambda: service.unwatched_folders <= 1, 10, "only the root, if any")
    assert len([e for e in logs if e["event"] == "watch_limit_reached"]) == 1


def test_the_watch_limit_reached_while_running_is_logged_and_counts_only_folders_there(
    tmp_path: Path,
) -> None:
    """Folders made while the service runs, past the limit: watch_limit_reached is logged
    within seconds (it was only looked for at the start), and once they are deleted they
    are no longer counted (the count stayed for good)."""
    (tmp_path / "in").mkdir()
    service = five_watches(tmp_path)
    with serving(service) as logs:
        assert service.unwatched_folders == 0
        for index in range(10):
            (tmp_path / "in" / f"job-{index:02d}").mkdir()
        (limit,) = wait_until(
            lambda: [e for e in logs if e["event"] == "watch_limit_reached"], 10, "the line"
        )
        assert limit["unwatched_folders"] > 0
        for index in range(10):
            (tmp_path / "in" / f"job-{index:02d}").rmdir()
        wait_until(lambda: service.unwatched_folders == 0, 10, "no folder counted")


EXTENDED_AT_500 = (
    "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=rebuilding the catalog: 500 of 1100 run folders read"
)


@contextlib.contextmanager
def notify_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], list[str]]]:
    """$NOTIFY_SOCKET bound in ``tmp_path``; yields a function returning what arrived."""
    address = str(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.setblocking(False)

        def received() -> list[str]:
            messages = []
            with contextlib.suppress(BlockingIOError):
                while True:
                    messages.append(server.recv(4096).decode())
            return messages

        yield received


def test_a_stop_during_the_rebuild_at_start_ends_it_and_asks_systemd_for_no_more_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM's flag set while the catalog is rebuilt at start: the rebuild stops at its
    next chunk, serve() returns 0 without READY, and no EXTEND_TIMEOUT_USEC follows (it
    would stretch systemd's stop timeout)."""
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(1100))
    (tmp_path / "archive" / "catalog.sqlite3").unlink()
    (tmp_path / "in").mkdir()
    document = {"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}
    service = Service(parse_config(document, tmp_path))
    rebuilding = service._rebuilding

    def stop_after_the_first_chunk(done: int, total: int) -> None:
        rebuilding(done, total)
        service.stop_requested.set()  # what the SIGTERM handler does
        rebuilding(done, total)  # a later chunk's progress, were there one

    service._rebuilding = stop_after_the_first_chunk  # type: ignore[method-assign]
    with notify_socket(tmp_path, monkeypatch) as received, capture_logs() as logs:
        assert service.serve() == 0
        assert received() == [EXTENDED_AT_500]
    assert "daemon_ready" not in [e["event"] for e in logs]
    (stopped,) = [e for e in logs if e["event"] == "daemon_stopped"]
    assert stopped["during"] == "catalog rebuild"


def test_a_rebuild_in_the_worker_before_ready_asks_systemd_for_more_time_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the startup scan is done (no READY yet) a rebuild in the worker extends the
    start timeout as the rebuild at start does; after READY it only beats and logs."""
    document = {"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}
    clock = FakeClock()
    service = Service(parse_config(document, tmp_path), clock=clock)
    with notify_socket(tmp_path, monkeypatch) as received, capture_logs() as logs:
        service._rebuilding_while_serving(500, 1100)
        service.worker.scanned.set()  # READY
        clock.advance(EXTEND_EVERY_SECONDS)
        service._rebuilding_while_serving(1000, 1100)
        assert received() == [EXTENDED_AT_500]
    assert [(e["done"], e["total"]) for e in logs] == [(500, 1100), (1000, 1100)]
    assert service.worker.heartbeat == clock.monotonic()


def test_a_rebuild_in_the_worker_beats_its_heartbeat_and_says_how_far_it_is(
    tmp_path: Path,
) -> None:
    """A reindex after READY (the cron's, say: minutes at a million runs) logs
    catalog_rebuilding as it reads beside the worker, without beating the worker's
    heartbeat (the worker beats itself); a rebuild on the worker's own thread (the catalog
    deleted under it) beats it with each chunk, so the watchdog is still pinged; the log
    says how far either is at most every EXTEND_EVERY_SECONDS."""
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(1100))
    (tmp_path / "in").mkdir()
    document = {"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}
    clock = FakeClock()
    service = Service(parse_config(document, tmp_path), clock=clock)
    with serving(service) as logs:
        assert service.worker.request("reindex")
        wait_until(lambda: [e for e in logs if e["event"] == "reindexed"], 30, "reindexed")
    events = [e["event"] for e in logs]
    rebuilding = [e for e in logs if e["event"] == "catalog_rebuilding"]
    assert events.index("daemon_ready") < events.index("catalog_rebuilding")
    assert [(e["done"], e["total"]) for e in rebuilding] == [(500, 1100)]  # the clock stood

    clock.advance(1000.0)  # a rebuild's chunk, long after the worker's last turn
    with capture_logs() as later:
        service._rebuilding_while_serving(1000, 1_000_000)
        assert service.worker.heartbeat == clock.monotonic()
        clock.advance(EXTEND_EVERY_SECONDS - 0.5)
        service._rebuilding_while_serving(1500, 1_000_000)
        clock.advance(0.5)
        service._rebuilding_while_serving(2000, 1_000_000)
    assert service.worker.heartbeat == clock.monotonic()
    assert [(e["done"], e["total"]) for e in later] == [(1000, 1_000_000), (2000, 1_000_000)]

    beaten = service.worker.heartbeat
    clock.advance(EXTEND_EVERY_SECONDS)
    with capture_logs() as reading:
        service._reindex_reading(2500, 1_000_000)  # the reindex's reading, beside the worker
    assert service.worker.heartbeat == beaten  # a hung worker still shows as stalled
    assert [(e["done"], e["total"]) for e in reading] == [(2500, 1_000_000)]


@pytest.mark.timeout(120)
def test_the_service_archives_while_its_own_reindex_reads_the_run_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly reindex (requested here) reads the run folders beside the worker: a
    summary dropped meanwhile is archived before the reading ends, and the catalog swapped
    in afterwards holds it (before: the worker did nothing else for the whole rebuild,
    minutes at a million runs)."""
    with TrainingArchiveManager(tmp_path / "archive", durable=False) as archive:
        archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(20))
    (tmp_path / "in").mkdir()
    release, fill = threading.Event(), PendingReindex.fill

    def held(pending: PendingReindex) -> None:
        release.wait(60)
        fill(pending)

    monkeypatch.setattr(PendingReindex, "fill", held)
    document = {"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}
    service = Service(parse_config(document, tmp_path))
    try:
        with serving(service) as logs:
            assert service.worker.request("reindex")
            wait_until(lambda: service.worker.jobs.reindexing, 30, "the reindex reading")
            (tmp_path / "in" / "late_summary.json").write_bytes(summary_bytes("late"))
            wait_until(lambda: [e for e in logs if e["event"] == "run_archived"], 30, "archived")
            assert not [e for e in logs if e["event"] == "reindexed"]
            release.set()
            wait_until(lambda: [e for e in logs if e["event"] == "reindexed"], 30, "reindexed")
    finally:
        release.set()
    (reindexed,) = [e for e in logs if e["event"] == "reindexed"]
    assert reindexed["runs"] == 21
    with TrainingArchiveManager(tmp_path / "archive") as archive:
        assert [run["run_id"] for run in archive.list_runs()][-1] == "late"
    assert not list((tmp_path / "archive").glob(".catalog-rebuild*"))


@pytest.mark.timeout(60)
def test_a_status_json_it_cannot_write_is_logged_once_and_again_when_it_can(
    tmp_path: Path,
) -> None:
    """A folder where status.json belongs: status_write_failed is logged once (the
    service said nothing, and `status` called it not running), no temp file is left
    behind, and status_written comes once the name is free again."""
    (tmp_path / "in").mkdir()
    (tmp_path / "archive" / "status.json").mkdir(parents=True)
    document = {"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}
    service = Service(parse_config(document, tmp_path))
    with serving(service) as logs:
        wait_until(lambda: [e for e in logs if e["event"] == "status_write_failed"], 15, "failed")
        service.reporter.write("ready", 0, force=True)  # fails again: not logged again
        service._tell_status_error()
        assert not list((tmp_path / "archive").glob(".status.json.*"))
        (tmp_path / "archive" / "status.json").rmdir()
        wait_until(lambda: [e for e in logs if e["event"] == "status_written"], 15, "written")
    assert len([e for e in logs if e["event"] == "status_write_failed"]) == 1
    assert (tmp_path / "archive" / "status.json").is_file()
