"""End-to-end: the real `gatewatch run` process on a temporary folder, with real files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from gating import TrainingArchiveManager
from tests.conftest import make_model, summary_bytes
from tests.process import Daemon, signal_storm, wait_until

pytestmark = pytest.mark.timeout(60)

DaemonFactory = Callable[..., Daemon]


def write_atomically(path: Path, data: bytes) -> None:
    """Write a sibling temp file, then rename it into place (how careful producers write)."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    temp.rename(path)


@pytest.mark.parametrize("observer", ["native", "polling"])
def test_backlog_and_new_files_are_archived_once(
    daemon_factory: DaemonFactory, observer: str
) -> None:
    """Files present at start and files dropped later are each archived exactly once."""
    daemon = daemon_factory(watch={"observer": observer})
    (daemon.inbox / "old").mkdir()
    (daemon.inbox / "old" / "a_summary.json").write_bytes(summary_bytes("backlog-a"))
    (daemon.inbox / "b_summary.json").write_bytes(summary_bytes("backlog-b"))
    daemon.start()
    daemon.wait_for_event("run_archived", count=2)
    write_atomically(daemon.inbox / "c_summary.json", summary_bytes("renamed"))
    (daemon.inbox / "d_summary.json").write_bytes(summary_bytes("in-place"))
    events = daemon.wait_for_event("run_archived", count=4)
    assert sorted(e["run_id"] for e in events) == ["backlog-a", "backlog-b", "in-place", "renamed"]
    assert len(daemon.run_folders()) == 4
    assert events[0]["approved_symbols"] == ["SYM0"]
    assert {"timestamp", "approved", "review", "dropped", "source", "duration_ms"} <= set(events[0])
    status, _ = daemon.stop()
    assert status == 0
    assert len(daemon.events("run_archived")) == 4


def test_slow_writer_is_archived_complete_and_never_rejected(daemon_factory: DaemonFactory) -> None:
    """A producer holding the file open and writing in chunks, pausing past settle_seconds."""
    daemon = daemon_factory().start()
    data = summary_bytes("slow")
    target = daemon.inbox / "slow_summary.json"
    with target.open("wb") as handle:
        for start in range(0, len(data), len(data) // 3 + 1):
            handle.write(data[start : start + len(data) // 3 + 1])
            handle.flush()
            time.sleep(1.2)  # the producer is slow on purpose: longer than settle_seconds
    daemon.wait_for_event("run_archived", run_id="slow")
    assert daemon.events("file_rejected") == []
    assert (daemon.run_folders()[0] / "summary.json").read_bytes() == data
    assert not (daemon.archive / "_rejected").exists()


def test_folder_created_after_start(daemon_factory: DaemonFactory) -> None:
    """A file written into a folder created after start, right after the folder, is found."""
    daemon = daemon_factory().start()
    nested = daemon.inbox / "new" / "deeper"
    nested.mkdir(parents=True)
    (nested / "run_summary.json").write_bytes(summary_bytes("nested"))
    daemon.wait_for_event("run_archived", run_id="nested")


@pytest.mark.parametrize("how", ["removed", "moved away", "removed and made again"])
def test_a_watched_folder_removed_is_missing_and_watched_again_when_it_is_back(
    daemon_factory: DaemonFactory, how: str
) -> None:
    """The watched folder removed (or moved away, or removed and made again at once, ext4
    giving the new one the old inode number) while the service runs: watch_path_missing
    within seconds; a folder made under its name is watched and scanned within seconds, so
    a file in it is archived long before the 60 s rescan (it went unnoticed: no warning,
    and the file waited for the rescan)."""
    daemon = daemon_factory().start()
    if how == "moved away":
        daemon.inbox.rename(daemon.inbox.with_name("in.old"))
    else:
        shutil.rmtree(daemon.inbox)
    if how == "removed and made again":
        daemon.inbox.mkdir()
    (missing,) = daemon.wait_for_event("watch_path_missing", timeout=10)
    assert missing["path"] == str(daemon.inbox)
    if how == "removed and made again":
        assert missing["reason"] == "replaced by another folder"
    else:
        daemon.inbox.mkdir()
    daemon.wait_for_event("watch_path_appeared", timeout=10)
    write_atomically(daemon.inbox / "back_summary.json", summary_bytes("back"))
    daemon.wait_for_event("run_archived", run_id="back", timeout=10)


@pytest.mark.parametrize("when", ["while running", "before the start"])
def test_a_watched_folder_that_cannot_be_reached_is_missing_not_a_crash(
    daemon_factory: DaemonFactory, when: str
) -> None:
    """A folder on the way to the watched one made mode 0 (the service's user may not
    search it): watch_path_missing naming why, and the service runs on; a file there is
    archived once it may be reached (Path.is_dir raised PermissionError: the service
    exited 1 with a bare errno line, and would not start again while it lasted)."""
    daemon = daemon_factory(watch={"paths": ["w/in"]})
    inbox = daemon.root / "w" / "in"
    inbox.mkdir(parents=True)
    if when == "before the start":
        inbox.parent.chmod(0)
    daemon.start(unprivileged=True)
    try:
        if when == "while running":
            inbox.parent.chmod(0)
        (missing,) = daemon.wait_for_event("watch_path_missing", timeout=10)
        assert (missing["path"], missing["reason"], missing["action"]) == (
            str(inbox),
            "cannot be reached (Permission denied)",
            "watching it once it can be reached",
        )
        assert daemon.process is not None
        assert daemon.process.poll() is None
    finally:
        inbox.parent.chmod(0o755)
    daemon.wait_for_event("watch_path_appeared", timeout=10)
    write_atomically(inbox / "back_summary.json", summary_bytes("back"))
    daemon.wait_for_event("run_archived", run_id="back", timeout=10)


@pytest.mark.parametrize("how", ["chmod", "chown"])
def test_a_folder_unreadable_at_the_start_is_watched_once_readable(
    daemon_factory: DaemonFactory, how: str
) -> None:
    """A subfolder the service's user could not read when watching began (no watch on it,
    nor on the folders inside) is watched as soon as it is made readable: a file written
    there, and one already waiting in a folder inside it, are archived within seconds
    (they waited for the 60 s rescan)."""
    daemon = daemon_factory(schedule={"rescan_seconds": 3600})
    locked = daemon.inbox / "locked"
    (locked / "deeper").mkdir(parents=True)
    write_atomically(locked / "deeper" / "waiting_summary.json", summary_bytes("waiting"))
    if how == "chown":  # another user's, mode 0700 (the service runs as root without caps)
        os.chown(locked, 65534, -1)
        locked.chmod(0o700)
    else:
        locked.chmod(0)
    daemon.start(unprivileged=True)
    try:
        daemon.wait_for_event("folder_unreadable", path=str(locked), timeout=10)
        if how == "chown":
            os.chown(locked, 0, -1)
        else:
            locked.chmod(0o755)
        daemon.wait_for_event("run_archived", run_id="waiting", timeout=10)
        write_atomically(locked / "deeper" / "new_summary.json", summary_bytes("new"))
        daemon.wait_for_event("run_archived", run_id="new", timeout=10)
    finally:
        locked.chmod(0o755)


def test_bad_file_is_rejected_and_the_next_good_one_archived(daemon_factory: DaemonFactory) -> None:
    """A bad file is copied to _rejected/ with a reason, once; the daemon carries on."""
    daemon = daemon_factory().start()
    bad = daemon.inbox / "bad_summary.json"
    write_atomically(
        bad, b'{"models": {"AAPL": {"fitness": 0.7, "pf": 2, "consistency": 85, "max_dd": 0}}}'
    )
    (event,) = daemon.wait_for_event("file_rejected")
    assert event["reason"] == "models.AAPL.consistency: 85 is not a fraction in [0, 1]"
    write_atomically(daemon.inbox / "good_summary.json", summary_bytes("good"))
    daemon.wait_for_event("run_archived", run_id="good")
    reasons = list((daemon.archive / "_rejected").glob("*.reason.json"))
    assert [json.loads(r.read_text())["source"] for r in reasons] == [str(bad)]
    assert len(daemon.events("file_rejected")) == 1


HUGE_INTEGER = (
    b'{"run_id": "huge", "validation_interval": ' + b"9" * 5000 + b', "models": {"A": '
    b'{"fitness": 0.8, "profit_factor": 2, "consistency": 0.9, "max_drawdown": 0.05}}}'
)
WIDE_HISTORY = (
    b'{"run_id": "wide", "models": {"A": {"fitness": 0.8, "profit_factor": 2, "consistency": '
    b'0.9, "max_drawdown": 0.05, "fitness_history": [1e308, -1e308]}}}'
)


def test_files_that_killed_the_worker_are_rejected_or_archived_and_it_carries_on(
    daemon_factory: DaemonFactory,
) -> None:
    """An integer of 5,000 digits is rejected with one line; a fitness history from 1e308
    to -1e308 is archived (its chart drawn); a good file after them is archived, and the
    service keeps running and logs no traceback (each killed the worker, and again at
    every start, so nothing was archived any more)."""
    daemon = daemon_factory().start()
    write_atomically(daemon.inbox / "huge_summary.json", HUGE_INTEGER)
    write_atomically(daemon.inbox / "wide_summary.json", WIDE_HISTORY)
    (event,) = daemon.wait_for_event("file_rejected")
    assert event["reason"].startswith("file: a number has more than 4300 digits")
    daemon.wait_for_event("run_archived", run_id="wide")
    write_atomically(daemon.inbox / "good_summary.json", summary_bytes("good"))
    daemon.wait_for_event("run_archived", run_id="good")
    assert daemon.process is not None
    assert daemon.process.poll() is None
    assert not daemon.events("worker_died")
    assert "Traceback" not in daemon.log_path.read_text("utf-8") + daemon.err_path.read_text()


def test_duplicate_is_skipped(daemon_factory: DaemonFactory) -> None:
    """The same bytes under a second name are logged as duplicate_skipped, not archived."""
    daemon = daemon_factory().start()
    write_atomically(daemon.inbox / "one_summary.json", summary_bytes("same"))
    (archived,) = daemon.wait_for_event("run_archived")
    write_atomically(daemon.inbox / "two_summary.json", summary_bytes("same"))
    (duplicate,) = daemon.wait_for_event("duplicate_skipped")
    assert duplicate["timestamp"] == archived["timestamp"]
    assert len(daemon.run_folders()) == 1


def test_sigterm_compacts_and_exits_0_quickly(daemon_factory: DaemonFactory) -> None:
    """SIGTERM finishes, writes index.json from the catalog and exits 0 within 10 s."""
    daemon = daemon_factory().start()
    write_atomically(daemon.inbox / "x_summary.json", summary_bytes("x"))
    daemon.wait_for_event("run_archived")
    status, seconds = daemon.stop(signal.SIGTERM)
    assert (status, seconds < 10) == (0, True)
    assert [e["event"] for e in daemon.events()][-3:] == [
        "daemon_stopping",
        "compacted",
        "daemon_stopped",
    ]
    index = json.loads((daemon.archive / "index.json").read_text("utf-8"))
    assert [r["run_id"] for r in index["runs"]] == ["x"]


def test_sighup_reloads_thresholds_and_keeps_them_on_a_bad_file(
    daemon_factory: DaemonFactory,
) -> None:
    """SIGHUP applies new [gating] thresholds; a bad config file keeps the old ones."""
    daemon = daemon_factory().start()
    config = {"watch": {"paths": ["in"], "settle_seconds": 0.5}, "archive": {"dir": "archive"}}
    daemon.write_config({**config, "gating": {"approved_min_fitness": 0.9}})
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_event("config_reloaded")
    model = {"AAPL": make_model(0.8)}
    write_atomically(
        daemon.inbox / "a_summary.json", json.dumps({"run_id": "a", "models": model}).encode()
    )
    (first,) = daemon.wait_for_event("run_archived")
    assert first["review"] == 1  # 0.8 < the new 0.9

    daemon.config_path.write_text("[gating]\napproved_min_fitness = 'x'\n", "utf-8")
    daemon.process.send_signal(signal.SIGHUP)
    (failed,) = daemon.wait_for_event("config_reload_failed")
    assert "gating.approved_min_fitness" in failed["error"]
    write_atomically(
        daemon.inbox / "b_summary.json", json.dumps({"run_id": "b", "models": model}).encode()
    )
    daemon.wait_for_event("run_archived", count=2)
    assert daemon.events("run_archived")[1]["review"] == 1  # still the reloaded thresholds

    # A number past a float's range (it killed the service: OverflowError at the reload).
    daemon.config_path.write_text(f"[gating.champion]\nfitness = {10**400}\n", "utf-8")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_event("config_reload_failed", count=2)
    assert "gating.champion.fitness" in daemon.events("config_reload_failed")[1]["error"]
    assert daemon.process.poll() is None


def test_a_reload_after_the_current_folders_config_was_removed_keeps_the_thresholds(
    daemon_factory: DaemonFactory,
) -> None:
    """Started without --config, a SIGHUP after ./config.toml was removed fails and keeps
    the thresholds (it loaded the defaults, loosening the gate)."""
    daemon = daemon_factory()
    config = {"watch": {"paths": ["in"], "settle_seconds": 0.5}, "archive": {"dir": "archive"}}
    daemon.write_config({**config, "gating": {"approved_min_fitness": 0.9}})
    daemon.start(implicit=True)
    daemon.config_path.rename(daemon.root / "config.toml.away")
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    (failed,) = daemon.wait_for_event("config_reload_failed")
    assert "config file not found" in failed["error"]
    model = {"AAPL": make_model(0.8)}
    write_atomically(
        daemon.inbox / "a_summary.json", json.dumps({"run_id": "a", "models": model}).encode()
    )
    (archived,) = daemon.wait_for_event("run_archived")
    assert archived["review"] == 1  # 0.8 < the 0.9 still in force


def test_a_reload_while_an_editor_saves_the_config_keeps_the_thresholds(
    daemon_factory: DaemonFactory,
) -> None:
    """A SIGHUP between an editor's truncating the config and writing it fails, keeps the
    thresholds and is `status`'s last error (the empty file was the defaults: a 0.8 model
    APPROVED under 0.9; a failed reload was in the log alone)."""
    daemon = daemon_factory(gating={"approved_min_fitness": 0.9})
    daemon.start()
    daemon.config_path.write_bytes(b"")
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    (failed,) = daemon.wait_for_event("config_reload_failed")
    assert failed["error"] == f"{daemon.config_path}: the file is empty (being saved?)"

    def last_error() -> dict[str, str] | None:
        status = json.loads((daemon.archive / "status.json").read_text("utf-8"))
        error: dict[str, str] | None = status["last_error"]
        return error

    wait_until(
        lambda: (last_error() or {}).get("event") == "config_reload_failed",
        10,
        "`status` to say the reload failed (systemd cannot)",
    )
    model = {"AAPL": make_model(0.8)}
    write_atomically(
        daemon.inbox / "a_summary.json", json.dumps({"run_id": "a", "models": model}).encode()
    )
    (archived,) = daemon.wait_for_event("run_archived")
    assert archived["review"] == 1  # 0.8 < the 0.9 still in force
    watch = {"paths": ["in"], "settle_seconds": 0.5}
    gating = {"approved_min_fitness": 0.9}
    daemon.write_config({"watch": watch, "archive": {"dir": "archive"}, "gating": gating})
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_event("config_reloaded")
    wait_until(lambda: last_error() is None, 10, "the mended reload no longer the last error")


def test_a_burst_of_sighups_neither_hangs_nor_ends_the_service(
    daemon_factory: DaemonFactory,
) -> None:
    """SIGHUPs as fast as a process sends them for a second: the service reloads, archives
    the next file and stops at SIGTERM, exit 0 (an Event set in the handler waited for ever
    on its own lock when another signal came inside it: status.json stopped, and SIGTERM
    no longer stopped the service)."""
    daemon = daemon_factory().start()
    assert daemon.process is not None
    signal_storm(daemon.process.pid, signal.SIGHUP)
    daemon.wait_for_event("config_reloaded")
    write_atomically(daemon.inbox / "after_summary.json", summary_bytes("after"))
    daemon.wait_for_event("run_archived", run_id="after", timeout=10)
    assert daemon.stop()[0] == 0


def test_second_daemon_on_the_same_archive_exits_2(daemon_factory: DaemonFactory) -> None:
    """A second service on the same archive refuses with one clear line, status 2, also
    once the first one's lock files were deleted by hand (it was let in)."""
    daemon = daemon_factory().start()

    def another() -> subprocess.CompletedProcess[str]:
        command = [*gatewatch_command(), "run", "--config", str(daemon.config_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    second = another()
    assert second.returncode == 2
    assert second.stderr.startswith("gatewatch: another gatewatch (pid ")
    assert "already running" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert daemon.process is not None
    assert daemon.process.poll() is None
    # Its files deleted by hand (a clean-up of dotfiles): still refused.
    for name in (".daemon.lock", ".lock"):
        (daemon.archive / name).unlink()
    third = another()
    assert third.returncode == 2
    assert "another gatewatch (pid unknown) is already running" in third.stderr


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "folder"])
def test_a_second_daemon_refuses_whatever_stands_as_the_pid_file(
    daemon_factory: DaemonFactory, kind: str
) -> None:
    """The first one's .daemon.lock replaced by a FIFO, a symlink to /dev/zero or a folder:
    a second service still refuses with one line and status 2 (it blocked on the FIFO,
    ignoring SIGTERM, and filled 2.6 GB of memory from /dev/zero)."""
    daemon = daemon_factory().start()
    pid_file = daemon.archive / ".daemon.lock"
    pid_file.unlink()
    if kind == "fifo":
        os.mkfifo(pid_file)
    elif kind == "folder":
        pid_file.mkdir()
    else:
        pid_file.symlink_to("/dev/zero")
    command = [*gatewatch_command(), "run", "--config", str(daemon.config_path)]
    second = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert second.returncode == 2
    assert second.stderr == (
        f"gatewatch: another gatewatch (pid unknown) is already running on {daemon.archive}\n"
    )


@pytest.mark.parametrize("kind", ["symlink to a run file", "dangling symlink", "fifo", "folder"])
def test_a_pid_file_planted_before_the_start_is_replaced_never_written_through(
    daemon_factory: DaemonFactory, tmp_path: Path, kind: str
) -> None:
    """.daemon.lock as a symlink (to an archived file, or to nowhere), a FIFO or a folder:
    the service starts and archives, its pid written by a rename that replaces a symlink
    or a FIFO (it wrote its pid into the run's summary.json through the link, and blocked
    on the FIFO); a folder is logged pid_file_failed and left."""
    daemon = daemon_factory().start()
    write_atomically(daemon.inbox / "a_summary.json", summary_bytes("a"))
    daemon.wait_for_event("run_archived", run_id="a")
    assert daemon.stop()[0] == 0
    summary = daemon.run_folders()[0] / "summary.json"
    before = summary.read_bytes()
    pid_file, outside = daemon.archive / ".daemon.lock", tmp_path / "outside"
    pid_file.unlink()
    if kind == "symlink to a run file":
        pid_file.symlink_to(summary)
    elif kind == "dangling symlink":
        pid_file.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(pid_file)
    else:
        pid_file.mkdir()
    daemon.start()
    write_atomically(daemon.inbox / "b_summary.json", summary_bytes("b"))
    daemon.wait_for_event("run_archived", run_id="b")
    assert daemon.process is not None
    if kind == "folder":
        assert daemon.events("pid_file_failed")
    else:
        assert pid_file.read_text() == f"{daemon.process.pid}\n"
    assert daemon.stop()[0] == 0
    assert summary.read_bytes() == before
    assert not outside.exists()


def test_special_files_are_skipped_and_never_block(
    daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    """A FIFO and a symlink named like summaries are skipped; the next good file lands."""
    daemon = daemon_factory().start()
    outside = tmp_path / "secret.json"
    outside.write_bytes(summary_bytes("secret"))
    os.mkfifo(daemon.inbox / "pipe_summary.json")
    (daemon.inbox / "link_summary.json").symlink_to(outside)
    write_atomically(daemon.inbox / "real_summary.json", summary_bytes("real"))
    daemon.wait_for_event("run_archived", run_id="real")
    assert [e["run_id"] for e in daemon.events("run_archived")] == ["real"]
    assert "secret" not in "".join(p.name for p in daemon.archive.rglob("*"))


AN_HOUR_AGO = time.time() - 3600


@pytest.mark.timeout(60)
@pytest.mark.parametrize("observer", ["native", "polling"])
def test_a_watched_symlink_gets_events_and_no_folder_is_followed_out_of_it(
    daemon_factory: DaemonFactory, observer: str
) -> None:
    """Watched through a symlink, a file is archived within seconds under the watched name,
    while a new subfolder swapped for a symlink to outside and a dot-folder moved in are
    passed over (the link got no inotify events; the swap archived and leaked outside
    files: under inotify when the worker lags behind the kernel, always under polling,
    which reports a symlink to a folder as a folder created)."""
    watch = {"paths": ["link"], "observer": observer}
    daemon = daemon_factory(watch=watch, schedule={"rescan_seconds": 3600})
    link, real = daemon.root / "link", Path(os.path.realpath(daemon.inbox))
    link.symlink_to(daemon.inbox)
    daemon.start()
    (watching,) = daemon.events("watching")
    assert watching["resolved"] == {str(link): str(real)}
    write_atomically(daemon.inbox / "first_summary.json", summary_bytes("first"))
    (first,) = daemon.wait_for_event("run_archived", run_id="first", timeout=5)
    assert first["source"] == str(link / "first_summary.json")
    outside, staging = daemon.root / "outside", daemon.root / "staging"
    for folder, run_id in ((outside, "outside"), (staging, "hidden")):
        folder.mkdir()
        (folder / f"{run_id}_summary.json").write_bytes(summary_bytes(run_id))
    (outside / "bad_summary.json").write_bytes(b"a secret, not a summary")
    for file in [*outside.iterdir(), *staging.iterdir()]:
        os.utime(file, (AN_HOUR_AGO, AN_HOUR_AGO))  # a backlog: due as soon as found
    race = daemon.inbox / "race"
    race.mkdir()  # the folder event is handled once the symlink stands in its place
    race.rmdir()
    race.symlink_to(outside)
    staging.rename(daemon.inbox / ".incoming")
    write_atomically(daemon.inbox / "last_summary.json", summary_bytes("last"))
    daemon.wait_for_event("run_archived", run_id="last", timeout=5)
    write_atomically(daemon.inbox / "final_summary.json", summary_bytes("final"))
    daemon.wait_for_event("run_archived", run_id="final", timeout=5)
    assert [e["run_id"] for e in daemon.events("run_archived")] == ["first", "last", "final"]
    assert daemon.events("file_rejected") == []
    assert not (daemon.archive / "_rejected").exists()


def test_a_watched_path_that_is_a_file_is_logged_as_not_a_folder(
    daemon_factory: DaemonFactory,
) -> None:
    """A watched path that is a file is logged as not a folder (it said it would be
    watched when it appears, though it was there)."""
    daemon = daemon_factory(watch={"paths": ["in", "notes.txt"]})
    (daemon.root / "notes.txt").write_text("not a folder", "utf-8")
    daemon.start()
    (missing,) = daemon.events("watch_path_missing")
    assert (missing["path"], missing["reason"]) == (str(daemon.root / "notes.txt"), "not a folder")


def test_a_rebuild_at_start_asks_systemd_for_time(
    daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    """A catalog rebuilt at start (here: deleted) asks systemd to extend its start timeout,
    saying how far it is, before READY=1: a big archive's rebuild outlasts the default 90 s."""
    daemon = daemon_factory()
    archive = TrainingArchiveManager(daemon.archive, durable=False)
    archive.archive_training_runs(summary_bytes(f"r{n}") for n in range(30))
    archive.close()
    (daemon.archive / "catalog.sqlite3").unlink()
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(10)
        daemon.start(env={"NOTIFY_SOCKET": address}, wait_ready=False)
        messages: list[str] = []

        def received(text: str) -> bool:
            messages.append(server.recv(4096).decode())
            return any(text in m for m in messages)

        wait_until(lambda: received("READY=1"), 15, "READY=1")
    extend = [m for m in messages if m.startswith("EXTEND_TIMEOUT_USEC=")]
    assert extend, messages
    assert messages.index(extend[0]) < len(messages) - 1  # before READY=1
    assert "STATUS=rebuilding the catalog: 30 of 30 run folders read" in extend[0]
    assert daemon.events("catalog_rebuilding")[0]["total"] == 30


def test_systemd_notify_ready_watchdog_stopping(
    daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    """Under systemd the service sends READY=1, WATCHDOG=1 pings and STOPPING=1."""
    daemon = daemon_factory()
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(10)
        daemon.start(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}, wait_ready=False)
        messages: list[str] = []

        def received(text: str) -> bool:
            messages.append(server.recv(4096).decode())
            return any(text in m for m in messages)

        wait_until(lambda: received("READY=1"), 15, "READY=1")
        wait_until(lambda: received("WATCHDOG=1"), 5, "WATCHDOG=1")
        assert daemon.events("daemon_ready")
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        wait_until(lambda: received("STOPPING=1"), 10, "STOPPING=1")
        assert daemon.process.wait(timeout=10) == 0
