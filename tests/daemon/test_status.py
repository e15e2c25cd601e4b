"""Tests for daemon.status: the document, the health verdict, the text, the atomic write."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.status import (
    EXIT_HEALTHY,
    EXIT_NOT_RUNNING,
    EXIT_UNHEALTHY,
    assess_status,
    health_now,
    read_status,
    render_services,
    render_status,
    status_document,
)
from daemon.status_reporter import StatusReporter

NOW = 1_800_000_000.0


def document(state: str = "ready", age: float = 0.0, host: str = "box") -> dict[str, object]:
    """A status document written ``age`` seconds before NOW."""
    return status_document(
        pid=42,
        host=host,
        started=NOW - 100,
        state=state,
        queue_depth=1,
        counters={"archived": 5},
        last_archive={"timestamp": "20260101T000000000000Z", "run_id": "r"},
        last_error=None,
        now=NOW - age,
    )


def alive(_pid: int) -> bool:
    return True


def dead(_pid: int) -> bool:
    return False


def test_document_fields() -> None:
    """The document carries pid, times, state, queue depth and every counter."""
    doc = document()
    assert doc["started"] == "2027-01-15T07:58:20.000Z"
    assert doc["uptime_seconds"] == 100
    assert doc["counters"] == {
        "archived": 5,
        "duplicates": 0,
        "rejected": 0,
        "failed": 0,
        "approved": 0,
        "review": 0,
        "dropped": 0,
    }


def test_health_verdicts() -> None:
    """Fresh is healthy; old is stale; stopped, gone or absent is not running."""
    assert assess_status(document(), NOW, alive, "box").exit_code == EXIT_HEALTHY
    assert assess_status(document("starting"), NOW, alive, "box").healthy
    stale = assess_status(document(age=31), NOW, alive, "box")
    assert (stale.state, stale.exit_code) == ("stale", EXIT_UNHEALTHY)
    stalled = assess_status(document("stalled"), NOW, alive, "box")
    assert (stalled.state, stalled.exit_code) == ("unhealthy", EXIT_UNHEALTHY)
    assert assess_status(document("stopped"), NOW, alive, "box").exit_code == EXIT_NOT_RUNNING
    gone = assess_status(document(), NOW, dead, "box")
    assert (gone.state, gone.reason) == ("not running", "process 42 is gone")
    # On another host the pid says nothing: only the age counts.
    assert assess_status(document(), NOW, dead, "elsewhere").healthy
    # Updated in the future (written by hand, or the clock went back): not a fresh beat.
    ahead = assess_status(document(age=-31), NOW, alive, "box")
    assert (ahead.state, ahead.reason) == ("stale", "updated 31 s in the future")
    assert assess_status(document(age=-29), NOW, alive, "box").healthy
    assert assess_status(None, NOW, alive, "box").exit_code == EXIT_NOT_RUNNING


@pytest.mark.parametrize(
    ("failing_for", "healthy"), [(None, True), (0.0, True), (60.0, True), (61.0, False)]
)
def test_archiving_that_keeps_failing_is_unhealthy(
    failing_for: float | None, healthy: bool
) -> None:
    """A service whose every archive has failed for over a minute is unhealthy (a full
    disk left it "healthy" for as long as it lasted); a retry that heals sooner is not."""
    doc = status_document(
        pid=42, host="box", started=NOW - 600, state="ready", queue_depth=1, counters={},
        last_archive=None, last_error={"event": "archive_failed", "message": "m", "at": "t"},
        now=NOW, failing_since=None if failing_for is None else NOW - failing_for,
    )  # fmt: skip
    health = assess_status(doc, NOW, alive, "box")
    assert (health.healthy, health.running) == (healthy, True)
    if not healthy:
        assert (health.state, health.exit_code) == ("failing", EXIT_UNHEALTHY)
        assert health.reason == (
            "archiving has failed for 61 s, nothing archived since (the last error says why)"
        )


def test_render_is_a_few_lines() -> None:
    """The text names the health, the pid, the counters and the last archive."""
    doc = document()
    text = render_status(doc, assess_status(doc, NOW, alive, "box"))
    assert text.startswith("gatewatch: healthy (the service is ready)\npid 42 on box")
    assert "files: 5 archived, 0 duplicates, 0 rejected, 0 failed attempts;" in text
    assert "last archive: 20260101T000000000000Z (r)" in text


def test_text_from_the_file_or_the_database_is_shown_escaped() -> None:
    """ESC, CR and a bidi override in status.json or a services row are escaped (they were
    printed raw: anyone who may write either could drive the reader's terminal)."""
    doc = document()
    doc["last_error"] = {"event": "e", "message": "\x1b[31mred\rover\u202e", "at": "t"}
    text = render_status(doc, assess_status(doc, NOW, alive, "box"))
    assert "last error: e: \\x1b[31mred\\rover\\u202e at t" in text
    assert "\x1b" not in text
    row = {"host": "evil\x07\x1b]0;x", "pid": 1, "version": "1", "started": "s",
           "seen_seconds_ago": 2.0}  # fmt: skip
    shown = render_services([row])
    assert "evil\\x07\\x1b]0;x pid 1" in shown
    assert "\x1b" not in shown


def test_a_service_not_seen_for_half_a_minute_is_listed_apart() -> None:
    """A service last seen 2115 s ago (killed -9: no goodbye) is not counted as writing,
    and its line says so (it was listed as one of the services for good)."""
    rows = [
        {"host": "a", "pid": 1, "version": "1", "started": "s", "seen_seconds_ago": 1.5},
        {"host": "b", "pid": 2, "version": "1", "started": "s", "seen_seconds_ago": 2115.0},
    ]
    assert render_services(rows).splitlines() == [
        "services writing into the shared archive: 1 (and 1 not seen for over 30 s: gone?)",
        "  a pid 1 (gatewatch 1), started s, seen 2 s ago",
        "  b pid 2 (gatewatch 1), started s, seen 2115 s ago (gone?)",
    ]


def test_status_reads_the_archive_while_the_rest_of_the_config_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistake outside [archive] (a reload failed on it, the service runs on with the
    file it read before): `status` names the mistake on stderr and still answers from the
    archive (it exited 2, when an operator most needed it); other commands still refuse
    the file, and so does `status` when the file is not TOML at all."""
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n[gating]\napproved_min_fitness = "high"\n')
    (tmp_path / "archive").mkdir()
    assert StatusReporter(tmp_path / "archive").write("ready", 0, force=True)
    assert main(["--config", str(config), "status"]) == EXIT_HEALTHY
    out, err = capsys.readouterr()
    assert "ready" in out
    (line,) = err.splitlines()
    assert "approved_min_fitness" in line
    assert line.endswith("(status read from [archive] alone)")
    assert main(["--config", str(config), "approved"]) == 2
    config.write_text('[archive]\ndir = "archive"\n[gating\n')
    assert main(["--config", str(config), "status"]) == 2
    assert "invalid TOML" in capsys.readouterr().err


def test_status_command_exit_codes(tmp_path: Path, capsys: object) -> None:
    """`gatewatch status`: 3 without a service, 0 when fresh and alive, 1 when stale."""
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    archive = tmp_path / "archive"
    archive.mkdir()
    assert main(["--config", str(config), "status"]) == EXIT_NOT_RUNNING
    reporter = StatusReporter(archive)
    reporter.write("ready", 0, force=True)
    assert main(["--config", str(config), "status", "--json"]) == EXIT_HEALTHY
    doc = json.loads((archive / "status.json").read_text("utf-8"))
    doc["updated"] = "2000-01-01T00:00:00.000Z"
    (archive / "status.json").write_text(json.dumps(doc), "utf-8")
    assert main(["--config", str(config), "status"]) == EXIT_UNHEALTHY
    doc["pid"] = 2**22 + 7  # above pid_max by default: no such process
    (archive / "status.json").write_text(json.dumps(doc), "utf-8")
    assert main(["--config", str(config), "status"]) == EXIT_NOT_RUNNING
    assert doc["pid"] != os.getpid()


HOSTILE_STATUS = {
    "missing fields": b'{"updated": "2026-12-06T08:31:00Z", "state": "ready", "pid": 1}',
    "wrong types": json.dumps({**document(), "pid": "x", "state": 5}).encode(),
    "counters a list": json.dumps({**document(), "counters": [1]}).encode(),
    "last_archive a string": json.dumps({**document(), "last_archive": "x"}).encode(),
    "last_error without a message": json.dumps({**document(), "last_error": {"e": 1}}).encode(),
    "a pid beyond any machine's": json.dumps({**document(), "pid": 2**70}).encode(),
    "pid -1": json.dumps({**document(), "pid": -1}).encode(),
    "pid 0": json.dumps({**document(), "pid": 0}).encode(),
    "a queue of 10^400": json.dumps({**document(), "queue_depth": 10**400}).encode(),
    "a counter of 10^400": json.dumps(
        {**document(), "counters": {**document()["counters"], "archived": 10**400}}  # type: ignore[dict-item]
    ).encode(),
    "a list": b"[1, 2]",
    "deep nesting": b"[" * 100_000,
    "failing since a number": json.dumps({**document(), "archive_failing_since": 5}).encode(),
    "an uptime of NaN": json.dumps({**document(), "uptime_seconds": math.nan}).encode(),
    "an uptime of -Infinity": json.dumps({**document(), "uptime_seconds": -math.inf}).encode(),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", [*HOSTILE_STATUS, "fifo", "/dev/zero", "folder"])
def test_a_status_json_not_written_by_the_service_is_no_status(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A status.json of another shape, a FIFO, a symlink to /dev/zero or a folder reads as no
    status: `gatewatch status` says "not running" in one line and exits 3 (it printed a
    traceback, hung, or filled memory; the dashboard's home page answered 500)."""
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    path = tmp_path / "archive" / "status.json"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(HOSTILE_STATUS[kind])
    assert read_status(path.parent) is None
    assert main(["--config", str(config), "status"]) == EXIT_NOT_RUNNING
    out, err = capsys.readouterr()
    assert out.startswith("gatewatch: not running (no status.json")
    assert err == ""


def test_the_status_the_service_writes_is_read_back_whole(tmp_path: Path) -> None:
    """The shape check accepts exactly what status_document writes (with and without an
    archive or an error yet)."""
    older = {k: v for k, v in document().items() if k != "archive_failing_since"}
    for written in (
        document(), {**document(), "last_archive": None, "last_error": None},
        {**document(), "archive_failing_since": "2026-12-07T06:00:00.000Z"},
        older,  # written by a service from before the field
    ):  # fmt: skip
        (tmp_path / "status.json").write_text(json.dumps(written))
        assert read_status(tmp_path) == written


def test_health_without_a_service_says_not_running(tmp_path: Path) -> None:
    """An archive no service ever ran on: no status document, and not running."""
    document, health = health_now(tmp_path)
    assert document is None
    assert health.state == "not running"
    assert not health.healthy


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
@pytest.mark.parametrize("filled", ["space", "files"])
def test_a_stale_status_on_a_full_disk_says_the_disk_is_full(
    tmp_path: Path, filled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a disk with no room (space or files), a stale status.json says the disk is full,
    since the service cannot replace it there (it read like a hang); with room, it does not."""
    archive = tmp_path / "archive"
    archive.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,nr_inodes=64", "tmpfs", str(archive)], check=True
    )
    try:
        config = tmp_path / "config.toml"
        config.write_text('[archive]\ndir = "archive"\n', "utf-8")
        stale = {**document(host="elsewhere"), "updated": "2026-01-01T00:00:00.000Z"}
        (archive / "status.json").write_text(json.dumps(stale), "utf-8")
        assert main(["--config", str(config), "status"]) == EXIT_UNHEALTHY
        assert "full" not in capsys.readouterr().out
        if filled == "space":
            with contextlib.suppress(OSError), (archive / "filler").open("wb") as filler:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
        else:
            with contextlib.suppress(OSError):
                for index in itertools.count():
                    (archive / f"filler-{index}").touch()
        _, health = health_now(archive)
        assert health.state == "stale"
        assert main(["--config", str(config), "status"]) == EXIT_UNHEALTHY
        first = capsys.readouterr().out.splitlines()[0]
        room = "0 bytes free" if filled == "space" else "no file can be made"
        assert first.startswith("gatewatch: stale (not updated for ")
        assert first.endswith(f"; no status can be written on the archive's disk ({room}))")
    finally:
        subprocess.run(["umount", str(archive)], check=True)


@pytest.mark.parametrize(
    ("seen", "state", "reason"),
    [
        ([], "not running", "no service on this host, and none writes into the shared archive"),
        ([31.0], "not running", "no service on this host, and none writes into the shared archive"),
        ([30.0], "healthy", "no service on this host; 1 service writes into the shared archive"),
        (
            [1.0, 2.0, 99.0],
            "healthy",
            "no service on this host; 2 services write into the shared archive",
        ),
    ],
)
def test_without_a_service_here_a_shared_archive_is_judged_by_its_services(
    seen: list[float], state: str, reason: str
) -> None:
    """No status.json on this host: healthy while a service was seen within GONE_SECONDS."""
    services = [{"host": "h", "pid": 1, "seen_seconds_ago": s} for s in seen]
    health = assess_status(None, NOW, alive, "box", services=services)
    assert (health.state, health.reason) == (state, reason)
    assert health.healthy is (state == "healthy")
    local = assess_status(document(state="stopped"), NOW, alive, "box", services=services)
    assert local.state == "not running"  # this host's own service says first


def test_services_that_cannot_be_listed_make_a_healthy_status_failing(tmp_path: Path) -> None:
    """A shared archive's services unlisted (its database away): this host's healthy
    service is failing, saying why (no service archives into a database it cannot
    reach); a status that was not healthy says what it said."""
    StatusReporter(tmp_path).write("ready", 0, force=True)
    why = "the services cannot be listed: db:5432/gatewatch: cannot connect"
    assert health_now(tmp_path)[1].healthy
    _, health = health_now(tmp_path, None, why)
    assert (health.state, health.exit_code, health.reason) == ("failing", EXIT_UNHEALTHY, why)
    assert health.running  # /metrics' gatewatch_service_up stays 1: the process runs
    _, absent = health_now(tmp_path / "elsewhere", None, why)
    assert (absent.state, absent.reason) == (
        "not running",
        f"no service's status.json on this host; {why}",
    )


def test_a_status_not_updated_on_a_disk_that_takes_no_file_says_so() -> None:
    """The disk is asked only of a status not updated (not of a fresh one, nor of one
    dated in the future), and its answer ends the reason."""
    asked: list[str] = []

    def full() -> str:
        asked.append("asked")
        return "0 bytes free"

    late = assess_status(document(age=100), NOW, alive, "box", full=full)
    assert (
        late.reason
        == "not updated for 100 s; no status can be written on the archive's disk (0 bytes free)"
    )
    assert assess_status(document(age=-100), NOW, alive, "box", full=full).reason == (
        "updated 100 s in the future"
    )
    assert assess_status(document(), NOW, alive, "box", full=full).healthy
    assert asked == ["asked"]
