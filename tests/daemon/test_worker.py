"""Tests for daemon.worker, driven step by step with a fake clock, log and intake."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from daemon import scan_passes
from daemon.config import Config, parse_config
from daemon.intake import Outcome
from daemon.scan import FileFilter
from daemon.watcher import WatchEvent
from daemon.worker import Ingest, Reload, Worker
from gating import TrainingArchiveManager
from gating.archive.reindexing import PendingReindex
from tests.conftest import nest_past_path_max, summary_bytes
from tests.daemon.fakes import FakeClock, FakeLog
from tests.process import wait_until

AN_HOUR_AGO = 1_800_000_000.0 - 3600


def make_worker(
    tmp_path: Path, log: FakeLog, clock: FakeClock, **kwargs: object
) -> tuple[Worker, Config]:
    """A worker (not started) on tmp_path/in and tmp_path/archive."""
    (tmp_path / "in").mkdir(exist_ok=True)
    config = parse_config({"watch": {"paths": ["in"]}, "archive": {"dir": "archive"}}, tmp_path)
    manager = TrainingArchiveManager(config.archive.dir, config.gating)
    file_filter = FileFilter(config.watch.include, config.watch.exclude, (config.archive.dir,))
    made = Worker(
        config,
        manager,
        file_filter,
        log,
        clock=clock,
        stopping=threading.Event(),
        **kwargs,  # type: ignore[arg-type]
    )
    return made, config


def drop(folder: Path, name: str, run_id: str) -> Path:
    """A summary written an hour ago (a backlog file: due as soon as it is found)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(summary_bytes(run_id))
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return path


def worker_with_archived(
    tmp_path: Path, log: FakeLog, clock: FakeClock, count: int
) -> tuple[Worker, Config]:
    """A worker that has archived ``count`` files its startup scan found."""
    worker, config = make_worker(tmp_path, log, clock)
    for index in range(count):
        drop(config.watch.paths[0], f"{index}_summary.json", f"r{index}")
    for _ in range(3):
        worker.step(block=False)
    assert len(log.named("run_archived")) == count
    return worker, config


def failing(clock: FakeClock, reason: str) -> tuple[Ingest, list[float]]:
    """An ingest that fails every file for ``reason``, and the times it tried (from 0 s)."""
    attempts: list[float] = []

    def ingest(
        _manager: TrainingArchiveManager,
        paths: Sequence[Path],
        _rejected: set[str] | None,
        _may_wait: Collection[Path],
        _within: Sequence[Path],
    ) -> Iterator[Outcome]:
        for path in paths:
            attempts.append(clock.mono - 1000)
            yield Outcome("failed", path, reason=reason)

    return ingest, attempts


def test_an_unreadable_file_backs_off_and_is_logged_only_when_it_changes(tmp_path: Path) -> None:
    """A failing file is retried after 5, 10, 20 ... s and logged once until it changes."""
    log, clock = FakeLog(), FakeClock()
    unreadable, attempts = failing(clock, "cannot read: Permission denied")
    worker, config = make_worker(tmp_path, log, clock, ingest=unreadable)
    path = drop(config.watch.paths[0], "a_summary.json", "a")
    for _ in range(700):  # 700 s, one step a second
        worker.step(block=False)
        clock.advance(1.0)
    assert attempts == [0, 5, 15, 35, 75, 155, 315, 635]
    failures = log.named("archive_failed")
    assert [f["retry_in_s"] for f in failures] == [5, 10, 20, 40, 80, 160, 320, 600]
    assert len(log.named("archive_failed", "error")) == 1
    (done,) = log.named("startup_backlog_done")  # a failing file does not hold it back
    assert (done["archived"], done["failed"]) == (0, 1)
    path.write_bytes(summary_bytes("changed"))  # something changed: logged again
    worker.inbox.put(WatchEvent("completed", path))
    worker.step(block=False)
    assert len(log.named("archive_failed", "error")) == 2


def test_a_retry_request_tries_every_failed_file_at_once(tmp_path: Path) -> None:
    """``retry`` (the shared archive's database is back) makes a file waiting out its
    backoff due now, once, and should it fail again it waits 5 s, not 40; a file deleted
    meanwhile is not retried."""
    log, clock = FakeLog(), FakeClock()
    away, attempts = failing(clock, "cannot connect: Connection refused")
    worker, config = make_worker(tmp_path, log, clock, ingest=away)
    drop(config.watch.paths[0], "a_summary.json", "a")
    gone = drop(config.watch.paths[0], "b_summary.json", "b")
    for _ in range(20):  # failed at 0, 5 and 15 s: the next try is due at 35 s
        worker.step(block=False)
        clock.advance(1.0)
    assert attempts == [0, 0, 5, 5, 15, 15]
    gone.unlink()
    worker.inbox.put(WatchEvent("deleted", gone))
    assert worker.request("retry") is True
    worker.step(block=False)
    assert attempts == [0, 0, 5, 5, 15, 15, 20]
    assert [e["files"] for e in log.named("files_retried", "info")] == [1]
    assert len(worker.backoff) == 1  # the deleted file's failures are forgotten
    assert log.named("archive_failed")[-1]["retry_in_s"] == 5
    for _ in range(6):
        worker.step(block=False)  # asked once: the file waits its 5 s again, no more
        clock.advance(1.0)
    assert attempts == [0, 0, 5, 5, 15, 15, 20, 25]


def test_a_folder_no_scan_can_list_is_logged_once(tmp_path: Path) -> None:
    """A watched subfolder that cannot be listed (here a path past PATH_MAX) is logged as
    folder_unreadable once, however often it is scanned (it was passed over in silence)."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    nest_past_path_max(config.watch.paths[0])
    for _ in range(3):
        worker.request("rescan")
        for _ in range(5):
            worker.step(block=False)
    (told,) = log.named("folder_unreadable", "warning")
    assert told["error"] == "File name too long"
    assert told["path"].startswith(str(config.watch.paths[0]))


def test_scan_requests_coalesce_and_a_scan_never_starves_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most one scan is queued or running; files are archived while a scan is under way."""
    monkeypatch.setattr(scan_passes, "SCAN_SLICE_SECONDS", 0.0)  # one entry per turn
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    for index in range(6):
        drop(config.watch.paths[0] / f"job-{index}", f"{index}_summary.json", f"r{index}")
    worker.step(block=False)
    worker.step(block=False)
    assert worker.scans.current is not None  # the startup scan is still going ...
    assert len(log.named("run_archived")) == 2  # ... and each turn archived what it found
    assert worker.request("rescan") is True
    assert [worker.request("rescan") for _ in range(1000)] == [False] * 1000
    for _ in range(30):
        worker.step(block=False)
    assert len(log.named("run_archived")) == 6
    assert len(log.named("startup_scan")) == 1
    assert worker.scans.current is None
    assert worker.request("rescan") is True  # a new request once the last one was taken


def test_a_rescan_logs_what_it_found_and_leaves_the_startup_tally_alone(tmp_path: Path) -> None:
    """A rescan that finds a new file says so in rescan_found and logs that file as any
    other (a duplicate at info, not summed up as the startup's backlog); one that finds
    nothing new logs nothing."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    first = drop(config.watch.paths[0], "a_summary.json", "r0")
    for _ in range(3):
        worker.step(block=False)
    assert len(log.named("startup_backlog_done")) == 1
    copy = config.watch.paths[0] / "b_summary.json"
    copy.write_bytes(first.read_bytes())
    os.utime(copy, (AN_HOUR_AGO, AN_HOUR_AGO))
    for _ in range(2):  # the second rescan finds nothing new
        assert worker.request("rescan") is True
        for _ in range(3):
            worker.step(block=False)
    (found,) = log.named("rescan_found", "info")
    assert (found["files"], found["kind"]) == (1, "rescan")
    assert [f["source"] for f in log.named("duplicate_skipped", "info")] == [str(copy)]
    assert len(log.named("startup_backlog_done")) == 1


def test_with_no_file_waiting_a_rescan_is_not_cut_into_short_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short slice is for when files wait: a rescan of files all archived already ends
    in one turn even when a short slice would take one file at a time."""
    log, clock = FakeLog(), FakeClock()
    worker, _ = worker_with_archived(tmp_path, log, clock, 5)
    monkeypatch.setattr(scan_passes, "SCAN_SLICE_SECONDS", 0.0)
    assert worker.request("rescan") is True
    worker.step(block=False)
    assert worker.scans.current is None


def test_a_restart_over_archived_files_sums_them_up_in_one_line(tmp_path: Path) -> None:
    """Files archived before are counted in startup_backlog_done, each duplicate at debug."""
    clock = FakeClock()
    _, config = worker_with_archived(tmp_path, FakeLog(), clock, 4)
    log = FakeLog()
    second, _ = make_worker(tmp_path, log, clock)
    drop(config.watch.paths[0], "new_summary.json", "new")
    for _ in range(3):
        second.step(block=False)
    assert log.named("duplicate_skipped", "info") == []
    assert len(log.named("duplicate_skipped", "debug")) == 4
    (done,) = log.named("startup_backlog_done")
    assert (done["archived"], done["already_archived"], done["rejected"]) == (1, 4, 0)


def test_reload_applies_the_thresholds_and_names_what_it_does_not_apply(tmp_path: Path) -> None:
    """config_reloaded lists each change; keys outside [gating] are named as not applied."""
    log, clock = FakeLog(), FakeClock()
    worker, _ = make_worker(tmp_path, log, clock)
    fresh = parse_config(
        {
            "watch": {"paths": ["in"], "settle_seconds": 3.0},
            "archive": {"dir": "archive"},
            "gating": {"approved_min_fitness": 0.8},
        },
        tmp_path,
    )
    worker.inbox.put(Reload(fresh))
    worker.step(block=False)
    (reloaded,) = log.named("config_reloaded", "warning")
    assert reloaded["changed"] == {
        "watch.settle_seconds": [1.0, 3.0],
        "gating.approved_min_fitness": [0.7, 0.8],
    }
    assert reloaded["not_applied"] == ["watch.settle_seconds"]
    assert worker.manager.config.approved_min_fitness == 0.8


def test_the_worker_runs_the_archive_jobs_and_the_final_compaction_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compact and reindex requests, and the compaction at stop, run in the worker thread;
    only a reindex's reading of the run folders runs beside it."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    drop(config.watch.paths[0], "a_summary.json", "a")
    threads: list[str] = []
    manager = worker.manager
    compact, begin_reindex = manager.compact, manager.writer.begin_reindex
    fill, finish = PendingReindex.fill, PendingReindex.finish

    def compact_here() -> int:
        threads.append(threading.current_thread().name)
        return compact()

    def begin_here(*args: Any, **kwargs: Any) -> int | PendingReindex:
        threads.append(threading.current_thread().name)
        return begin_reindex(*args, **kwargs)

    def fill_here(pending: PendingReindex) -> None:
        threads.append(threading.current_thread().name)
        fill(pending)

    def finish_here(pending: PendingReindex) -> int:
        threads.append(threading.current_thread().name)
        return finish(pending)

    manager.compact = compact_here  # type: ignore[method-assign]
    manager.writer.begin_reindex = begin_here  # type: ignore[method-assign]
    monkeypatch.setattr(PendingReindex, "fill", fill_here)
    monkeypatch.setattr(PendingReindex, "finish", finish_here)
    manager.archive_training_run(summary_bytes("before"))  # a catalog to reindex
    assert worker.request("compact")
    assert worker.request("reindex")
    assert not worker.request("reindex")  # queued once
    worker.start()
    wait_until(lambda: log.named("reindexed") and log.named("compacted"), 10, "both jobs")
    worker.stopping.set()
    worker.wake()
    worker.join(10)
    assert not worker.is_alive()
    assert len(log.named("compacted")) == 2  # the requested one and the final one
    assert sorted(threads) == ["gatewatch-reindex"] + ["gatewatch-worker"] * 4


def test_reload_names_notify_changes_as_not_applied_without_their_secrets(tmp_path: Path) -> None:
    """A [notify] change on SIGHUP is named for a restart; a webhook URL never reaches the log."""
    log, clock = FakeLog(), FakeClock()
    worker, _ = make_worker(tmp_path, log, clock)
    secret_url = "https://hooks.example.test/services/T000/SECRET-PATH"
    fresh = parse_config(
        {
            "watch": {"paths": ["in"], "settle_seconds": 1.0},
            "archive": {"dir": "archive"},
            "notify": {"timeout_seconds": 9.0, "webhooks": [{"url": secret_url}]},
        },
        tmp_path,
    )
    worker.inbox.put(Reload(fresh))
    worker.step(block=False)
    (reloaded,) = log.named("config_reloaded", "warning")
    assert reloaded["not_applied"] == ["notify.targets", "notify.timeout_seconds"]
    assert reloaded["changed"]["notify.timeout_seconds"] == [5.0, 9.0]
    (target,) = reloaded["changed"]["notify.targets"][1]
    assert target.startswith("webhook-")
    assert "https://hooks.example.test #" in target
    assert "SECRET-PATH" not in repr(reloaded)
    assert reloaded["action"] == "restart the service to apply not_applied"


def cut_short_file(tmp_path: Path) -> tuple[Worker, FakeLog, FakeClock, float, Path]:
    """A started worker, and a summary cut short just written where it watches."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    worker.step(block=False)
    path = config.watch.paths[0] / "slow_summary.json"
    path.write_bytes(summary_bytes("slow")[:100])
    return worker, log, clock, config.watch.settle_seconds, path


@pytest.mark.parametrize("dated", [0.0, -3600.0, 86_400.0])
def test_a_file_cut_short_waits_ten_settles_and_is_rejected_if_unchanged(
    tmp_path: Path, dated: float
) -> None:
    """Cut short: looked at again after 1, 2 and 4 settles, and rejected once if still
    unchanged 10 settles after it was first found so, whatever its date says (an hour
    old, or a day ahead of the clock); a writer pausing longer than settle_seconds
    between pieces was rejected half-way."""
    worker, log, clock, settle, path = cut_short_file(tmp_path)
    os.utime(path, (clock.time() + dated, clock.time() + dated))
    worker.inbox.put(WatchEvent("completed", path))
    seen = []
    for advance in (0.0, settle, settle, 2 * settle, 4 * settle, 1.9 * settle, 0.1 * settle):
        clock.advance(advance)
        worker.step(block=False)
        seen.append(len(log.named("file_rejected")))
    assert seen == [0, 0, 0, 0, 0, 0, 1]
    assert len(log.named("file_incomplete")) == 5


def test_a_file_cut_short_that_grows_meanwhile_waits_again(tmp_path: Path) -> None:
    """A writer that appends between two looks: each piece waits, the whole is archived,
    and nothing is rejected."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    settle = config.watch.settle_seconds
    worker.step(block=False)
    path = config.watch.paths[0] / "slow_summary.json"
    data = summary_bytes("slow")
    for end in (100, 200, len(data)):
        path.write_bytes(data[:end])
        worker.inbox.put(WatchEvent("completed", path))
        worker.step(block=False)
        clock.advance(settle / 2)
        worker.step(block=False)
    assert len(log.named("file_incomplete")) == 2
    assert log.named("file_rejected") == []
    assert len(log.named("run_archived")) == 1


def test_a_startup_file_deleted_while_it_waits_does_not_hold_the_backlog_line(
    tmp_path: Path,
) -> None:
    """A file found at start, cut short, then deleted: startup_backlog_done still comes."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    drop(config.watch.paths[0], "a_summary.json", "a")
    cut = config.watch.paths[0] / "cut_summary.json"
    cut.write_bytes(summary_bytes("cut")[:100])
    os.utime(cut, (AN_HOUR_AGO, AN_HOUR_AGO))
    for _ in range(3):
        worker.step(block=False)
    assert len(log.named("file_incomplete")) == 1
    assert log.named("startup_backlog_done") == []
    cut.unlink()
    worker.inbox.put(WatchEvent("deleted", cut))
    worker.step(block=False)
    [done] = log.named("startup_backlog_done")
    assert (done["archived"], done["rejected"], done["gone"]) == (1, 0, 1)


def test_a_backlog_whose_only_file_was_deleted_is_still_summed_up(tmp_path: Path) -> None:
    """The startup scan's one file, cut short, then deleted: the line still comes, with
    the file counted as gone (there was none: an operator waited for it in vain)."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    cut = config.watch.paths[0] / "cut_summary.json"
    cut.write_bytes(summary_bytes("cut")[:100])
    for _ in range(3):
        worker.step(block=False)
    assert log.named("startup_backlog_done") == []
    cut.unlink()
    worker.inbox.put(WatchEvent("deleted", cut))
    worker.step(block=False)
    [done] = log.named("startup_backlog_done")
    assert (done["archived"], done["already_archived"], done["gone"]) == (0, 0, 1)


def test_a_close_without_a_write_does_not_end_the_wait_of_a_file_cut_short(
    tmp_path: Path,
) -> None:
    """Another close event for the same bytes (a reader that opened it for writing) looks
    again at once, but the file still waits its 10 settles before it is rejected."""
    worker, log, clock, settle, path = cut_short_file(tmp_path)
    worker.inbox.put(WatchEvent("completed", path))
    worker.step(block=False)
    clock.advance(settle / 10)
    worker.inbox.put(WatchEvent("completed", path))
    worker.step(block=False)
    assert log.named("file_rejected") == []
    for _ in range(4):  # its looks at 1, 2, 4 and 8 settles
        clock.advance(next_look(worker, clock))
        worker.step(block=False)
    assert log.named("file_rejected") == []
    clock.advance(next_look(worker, clock))  # 10 settles since it was first found so
    worker.step(block=False)
    assert len(log.named("file_rejected")) == 1


def next_look(worker: Worker, clock: FakeClock) -> float:
    """Seconds until the worker next looks at a file it holds."""
    due = worker.pending.next_due()
    assert due is not None
    return max(0.0, due - clock.monotonic())


def test_a_subfolder_swapped_for_a_symlink_to_outside_is_neither_scanned_nor_read(
    tmp_path: Path,
) -> None:
    """A new folder's event handled once it is a symlink to outside, and a file event
    through it, archive and keep nothing of outside (its files were archived or rejected,
    a rejected one's bytes copied into _rejected/)."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    watched, outside = config.watch.paths[0], tmp_path / "outside"
    drop(outside, "good_summary.json", "outside")
    bad = drop(outside, "bad_summary.json", "bad")
    bad.write_bytes(b"secret, not a summary")
    (watched / "race").symlink_to(outside)
    worker.inbox.put(WatchEvent("folder", watched / "race"))
    worker.inbox.put(WatchEvent("completed", watched / "race" / bad.name))
    for _ in range(5):
        worker.step(block=False)
        clock.advance(2.0)
    assert log.named("run_archived") == []
    assert log.named("file_rejected") == []
    assert not (config.archive.dir / "_rejected").exists()
    (skipped,) = log.named("file_skipped")
    assert skipped["source"] == str(watched / "race" / bad.name)


def test_a_new_excluded_folder_is_not_scanned(tmp_path: Path) -> None:
    """A dot-folder moved into the watched folder (its event names the folder) is passed
    over like every excluded folder (its summaries were archived)."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    for _ in range(3):
        worker.step(block=False)  # the startup scan, over an empty folder
    incoming = config.watch.paths[0] / ".incoming"
    drop(incoming / "deeper", "a_summary.json", "a")
    worker.inbox.put(WatchEvent("folder", incoming))
    worker.inbox.put(WatchEvent("folder", incoming / "deeper"))
    for _ in range(5):
        worker.step(block=False)
        clock.advance(2.0)
    assert log.named("run_archived") == []


def test_an_overflow_scans_the_folder_and_waits_no_longer_for_lost_closes(
    tmp_path: Path,
) -> None:
    """A file held open and quiet for two minutes is still waited for, and said so once
    (it was taken after a rescan interval, its writer's pause rejected half-way); then
    inotify's queue overflows: a rescan comes at once (a file whose events were lost is
    archived, not at the next rescan), and the file held open, whose close may be lost,
    is taken."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    for _ in range(3):
        worker.step(block=False)  # the startup scan, over an empty folder
    inbox = config.watch.paths[0]
    (inbox / "open_summary.json").write_bytes(summary_bytes("open"))
    worker.inbox.put(WatchEvent("written", inbox / "open_summary.json"))
    for _ in range(4):
        worker.step(block=False)
        clock.advance(config.schedule.rescan_seconds / 2)
    assert log.named("run_archived") == []  # held open: its close is waited for
    (held,) = log.named("file_held_open")
    assert held["source"] == str(inbox / "open_summary.json")
    drop(inbox, "lost_summary.json", "lost")  # its events lost with the overflow
    worker.inbox.put(WatchEvent("lost", inbox))
    worker.inbox.put(WatchEvent("lost", inbox))  # one rescan for a burst
    for _ in range(5):
        worker.step(block=False)
    assert sorted(e["run_id"] for e in log.named("run_archived")) == ["lost", "open"]
    assert [e["kind"] for e in log.named("rescan_found")] == ["rescan"]


def test_waiting_files_counts_each_file_once_however_many_its_events(tmp_path: Path) -> None:
    """A file written is several events (created, written, closed): the files waiting
    count it once, queued or known to the worker, and a folder or deletion not at all
    (status.json said 52,675 for 20,000 files)."""
    log, clock = FakeLog(), FakeClock()
    worker, config = make_worker(tmp_path, log, clock)
    folder = config.watch.paths[0]
    first, second = folder / "a_summary.json", folder / "b_summary.json"
    for path in (first, second):
        path.write_bytes(summary_bytes(path.stem))
    for kind in ("changed", "written", "completed"):
        worker.tell(WatchEvent(kind, first))
    worker.tell(WatchEvent("written", second))
    worker.tell(WatchEvent("folder", folder / "sub"))
    worker.tell(WatchEvent("deleted", folder / "gone_summary.json"))
    assert worker.waiting_files() == 2
    worker._handle(worker.inbox.get_nowait())  # the first's creation: now pending and queued
    assert worker.waiting_files() == 2
    worker.step(block=False)  # every event read; the first taken, the second still written
    assert worker.waiting_files() == 1


def test_the_unwatched_folders_are_polled_at_most_a_twentieth_of_the_time(
    tmp_path: Path,
) -> None:
    """A poll asked for right after a poll waits until 19 times the last poll's time has
    passed (30,000 unwatched folders were scanned every 5 s: an idle service used a fifth
    of a core), then polls; a file dropped meanwhile is found by that poll."""
    log, clock = FakeLog(), FakeClock()
    polled: list[Path] = []
    unwatched = tmp_path / "in" / "unwatched"

    def poll_roots() -> list[Path]:
        polled.append(unwatched)
        return [unwatched]

    worker, _ = make_worker(tmp_path, log, clock, poll_roots=poll_roots)
    for index in range(200):
        (unwatched / f"job-{index:03d}").mkdir(parents=True)
    worker.step(block=False)  # the startup scan
    worker.request("poll")
    worker.step(block=False)
    assert len(polled) == 1
    late = drop(unwatched / "job-007", "late_summary.json", "late")
    worker.request("poll")
    worker.step(block=False)
    assert len(polled) == 1
    assert late not in worker.done
    clock.advance(60.0)  # far more than 19 scans of 200 folders
    worker.request("poll")
    worker.step(block=False)
    assert len(polled) == 2
    assert late in worker.done  # found, and taken at once (written an hour ago)
