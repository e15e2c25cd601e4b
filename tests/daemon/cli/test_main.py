"""Tests for daemon.cli: commands, --json, --config placement and exit statuses."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import daemon.service
from benchmarks.common import gatewatch_command
from daemon.cli import main
from daemon.config import default_config_text
from daemon.signals import SignalEvents
from gating.archive.lock import FileLock
from tests.conftest import make_model, nest_past_path_max, summary_bytes
from tests.process import wait_until


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_archive_then_query(any_workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """archive prints one line per file; runs, approved and history answer in JSON."""
    (any_workdir / "a_summary.json").write_bytes(summary_bytes("a"))
    status, out, _ = run(capsys, "archive", "a_summary.json")
    assert status == 0
    assert out.startswith("archived: a_summary.json -> ")

    status, out, _ = run(capsys, "--json", "runs")
    runs = json.loads(out)
    assert status == 0
    assert [(r["approved"], r["review"], r["dropped"]) for r in runs] == [(1, 1, 1)]
    timestamp = runs[0]["timestamp"]
    assert json.loads(run(capsys, "runs", "--json")[1]) == runs

    assert json.loads(run(capsys, "approved", "--json")[1]) == ["SYM0"]
    assert json.loads(run(capsys, "approved", timestamp, "--json")[1]) == ["SYM0"]
    history = json.loads(run(capsys, "history", "SYM1", "--json")[1])
    assert [(h["timestamp"], h["classification"]) for h in history] == [(timestamp, "REVIEW")]

    status, out, _ = run(capsys, "approved")
    assert "1 of 3 models approved" in out
    assert out.splitlines()[1].split() == [
        "SYMBOL",
        "FITNESS",
        "PF",
        "CONSISTENCY",
        "MAXDD",
        "CHECKPOINT",
    ]
    status, out, _ = run(capsys, "history", "SYM1")
    assert out.splitlines()[1].split()[:3] == [timestamp, "a", "REVIEW"]


def test_approved_of_a_record_edited_by_hand_shows_empty_cells(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An approved model the run's record no longer holds (edited by hand) is listed with
    empty metric cells (it was a KeyError traceback)."""
    (workdir / "a_summary.json").write_bytes(summary_bytes("a"))
    assert run(capsys, "archive", "a_summary.json")[0] == 0
    record_path = next(workdir.glob("training_archives/2*/model_assessments.json"))
    record = json.loads(record_path.read_text("utf-8"))
    record["models"] = [m for m in record["models"] if m["symbol"] != "SYM0"]
    record_path.write_text(json.dumps(record), "utf-8")
    status, out, err = run(capsys, "approved")
    assert (status, err) == (0, "")
    assert out.splitlines()[-1].split() == ["SYM0", "-", "-", "-", "-", "-"]


def test_archive_exits_1_when_a_file_is_rejected(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejected file makes archive exit 1 with one line on stderr; good files still land."""
    (workdir / "good_summary.json").write_bytes(summary_bytes("g"))
    (workdir / "bad_summary.json").write_text('{"models": {"A": {"fitness": 1}}}')
    status, out, err = run(capsys, "archive", "bad_summary.json", "good_summary.json")
    assert status == 1
    assert err.strip() == (
        "gatewatch: bad_summary.json: rejected: models.A.profit_factor: missing "
        "(also accepted: pf, final_pf); also missing: consistency, max_drawdown"
    )
    assert out == "2 files: 1 archived, 1 rejected\n"  # lines only for what was not archived
    assert list((workdir / "training_archives" / "_rejected").glob("*.reason.json"))


@pytest.mark.parametrize("folder", [".", "./", ""])
def test_archive_of_a_relative_folder_never_reads_the_archive_in_it(
    workdir: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    """archive of the folder holding the archive, named relatively, passes the archive
    over (the copies in _rejected/ were rejected again, tripling it at every call)."""
    (workdir / "good_summary.json").write_bytes(summary_bytes("g"))
    (workdir / "bad_summary.json").write_text('{"models": {}}')
    for _ in range(3):
        status, out, _ = run(capsys, "archive", folder)
        assert status == 1
    assert out.splitlines()[-1] == "2 files matching *summary*.json: 1 duplicate, 1 rejected"


def test_archive_of_a_folder_says_which_subfolder_it_cannot_list(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A subfolder archive cannot list (here a path past PATH_MAX) is one line on stderr,
    and the rest is archived (it was passed over in silence)."""
    (workdir / "in").mkdir()
    (workdir / "in" / "a_summary.json").write_bytes(summary_bytes("a"))
    nest_past_path_max(workdir / "in")
    status, out, err = run(capsys, "archive", "in")
    assert (status, out) == (0, "archived: in/a_summary.json -> " + out.split(" -> ")[1])
    (line,) = err.splitlines()
    assert line.startswith("gatewatch: in/dddd")
    assert line.endswith(": cannot be listed (File name too long): its files are not read")


def test_assess_writes_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """assess prints the table or JSON and leaves no archive behind."""
    (workdir / "s.json").write_text(
        json.dumps(
            {"models": {"AAPL": make_model(history=[0.6, 0.9, 0.75])}, "validation_interval": 10}
        )
    )
    status, out, _ = run(capsys, "assess", "s.json")
    assert status == 0
    assert out.splitlines()[1].split()[:2] == ["AAPL", "APPROVED"]
    models = json.loads(run(capsys, "assess", "--json", "s.json")[1])
    assert models[0]["flags"] == ["FITNESS_DECLINE", "UNSTABLE_TRAINING"]
    assert models[0]["checkpoint_step"] == 20
    assert not (workdir / "training_archives").exists()


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["approved", "20000101T000000000000Z"], 1, "no archived run has timestamp"),
        (["assess", "missing.json"], 1, "missing.json: No such file"),
        (["--config", "nope.toml", "runs"], 2, "nope.toml: config file not found"),
        (["runs", "--config", "nope.toml"], 2, "nope.toml: config file not found"),
    ],
)
def test_errors_are_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    """Errors are one stderr line, exit 1 for a failed file or run, 2 for bad config."""
    got, _out, err = run(capsys, *argv)
    assert got == status
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["history"], "gatewatch history: the following arguments are required: SYMBOL"),
        # --reason is required: said as such (it said "reason: a decision needs a reason").
        (
            ["decide", "latest", "SYM1", "approve"],
            "gatewatch decide: the following arguments are required: --reason",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    """A missing argument is a usage error in one stderr line, status 2."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"{line} (see gatewatch {argv[0]} --help)"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "dangling symlink", "symlink", "/dev/zero", "folder"])
def test_config_init_writes_only_a_regular_file(
    workdir: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """config init --force over anything but a regular file is one line, exit 1, and
    nothing is written (it hung on a FIFO, wrote through a symlink, created a dangling
    link's target, and wrote into /dev/zero)."""
    target, aside = workdir / "c.toml", workdir / "aside.conf"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "/dev/zero":
        target.symlink_to("/dev/zero")
    else:
        if kind == "symlink":
            aside.write_text("keep", "utf-8")
        target.symlink_to(aside)
    status, out, err = run(capsys, "config", "init", str(target), "--force")
    if kind == "folder":  # the file in it is named, a usage error
        assert (status, out) == (2, "")
        assert err == f"gatewatch: {target}: a folder: name the file in it ({target}/config.toml)\n"
    else:
        assert (status, out) == (1, "")
        assert err.startswith(f"gatewatch: {target}: not a regular file, left alone")
    assert len(err.splitlines()) == 1
    if kind == "symlink":
        assert aside.read_text("utf-8") == "keep"
    else:
        assert not aside.exists()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_config_init_force_keeps_the_mode_and_owner(
    workdir: Path, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    """config init --force replaces a file with the default one, keeping its mode and
    owner (a 0600 file came back 0644, readable by anyone)."""
    target = workdir / "c.toml"
    target.write_text("[watch]\n", "utf-8")
    target.chmod(mode)
    if os.geteuid() == 0:
        os.chown(target, 12345, 23456)
    assert run(capsys, "config", "init", str(target), "--force")[0] == 0
    info = target.stat()
    assert info.st_mode & 0o7777 == mode
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (12345, 23456)
    assert target.read_text("utf-8") == default_config_text()


def test_a_symbol_typed_is_echoed_escaped_and_cut(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """history and audit of a symbol with a terminal escape, or of 100 kB, say so in one
    short line with the escape shown (both echoed it raw and whole)."""
    status, _, err = run(capsys, "history", "A\x1b[2JB")
    assert (status, err.startswith("no archived run gated A\\x1b[2JB in ")) == (0, True)
    status, out, _ = run(capsys, "audit", "S" * 100_000)
    assert (status, out.startswith("no decisions on " + "S" * 100 + "… in ")) == (0, True)
    assert len(out) < 500


def test_config_commands(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config init refuses to overwrite, show prints TOML, check validates."""
    status, _, err = run(capsys, "config", "init")
    assert status == 2  # refused without --force, as an unforced override is
    assert "already exists" in err
    assert run(capsys, "config", "init", "other.toml")[0] == 0
    assert (workdir / "other.toml").read_text("utf-8") == default_config_text()
    status, out, _ = run(capsys, "config", "show")
    assert f'dir = "{workdir / "training_archives"}"' in out
    assert run(capsys, "config", "check")[1].startswith("config OK")
    (workdir / "config.toml").write_text("[gating]\napproved_min_pf = 'high'\n")
    status, _, err = run(capsys, "config", "check")
    assert status == 2
    assert "gating.approved_min_pf" in err


def test_reindex_and_compact(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """reindex and compact report the run count."""
    (workdir / "a_summary.json").write_bytes(summary_bytes("a"))
    run(capsys, "archive", "a_summary.json")
    assert run(capsys, "reindex")[1].strip() == "reindexed: 1 runs"
    assert json.loads(run(capsys, "compact", "--json")[1]) == {"compacted": True, "runs": 1}


def test_rejected_lists_each_file_and_its_reason(
    any_workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rejected lists the turned-away files oldest first, as a table or JSON, --last trims."""
    for number, name in enumerate(("one", "two")):  # other bytes: each is kept
        (any_workdir / f"{name}_summary.json").write_text(f'{{"run_id": {number}}}', "utf-8")
        assert run(capsys, "archive", f"{name}_summary.json")[0] == 1
    status, out, _ = run(capsys, "rejected")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["REJECTED_AT", "SOURCE", "REASON"]
    assert [line.split()[1] for line in lines[1:]] == ["one_summary.json", "two_summary.json"]
    documents = json.loads(run(capsys, "rejected", "--json", "--last", "1")[1])
    assert [d["source"] for d in documents] == ["two_summary.json"]
    assert documents[0]["reason"] == "models: missing"


@pytest.mark.parametrize("command", ["runs", "rejected", "review"])
@pytest.mark.parametrize("last", ["x", "0", "-1", "1.5", "+-3", "--3", "++1"])
def test_a_bad_last_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: str, last: str
) -> None:
    """--last that is not a count in range is one line on stderr and exit 2, no traceback."""
    status, out, err = run(capsys, command, f"--last={last}")
    assert (status, out) == (2, "")
    assert err.startswith("gatewatch: last: ")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [["approved"], ["runs", "--last", "20"], ["history", "SYM0", "--last", "50"], ["deployable"]],
)
def test_a_query_imports_nothing_of_the_write_path(workdir: Path, argv: list[str]) -> None:
    """A cold read query loads no gating-to-report, commit, event, watcher or TOML-writing
    code, no orjson (12 ms) and no run folder reader (the imports are most of its time:
    docs/performance.md)."""
    (workdir / "a_summary.json").write_bytes(summary_bytes("a"))
    assert main(["archive", "a_summary.json"]) == 0
    probe = (
        "import sys\nfrom daemon.cli import main\n"
        f"assert main({[*argv, '--json']!r}) == 0\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = set(done.stderr.split())
    assert "gating.archive.catalog" in loaded  # the probe did query
    heavy = {"gating.report", "gating.archive.commit", "gating.events", "daemon.intake",
             "daemon.watcher", "gating.archive.outbox", "tomli_w", "ctypes",
             "daemon.cli.commands", "orjson", "gating.archive.maintenance",
             "hashlib"}  # fmt: skip
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["decide", "latest", "AAPL", "approve", "--reason", "ok\udcff"], "--reason"),
        (["decide", "latest", "AAPL", "approve", "--reason", "ok", "--by", "me\udcfe"], "--by"),
        (["decide", "latest", "AA\udcff", "approve", "--reason", "ok"], "SYMBOL"),
        (["history", "AA\udcff"], "SYMBOL"),
        (["audit", "AA\udcff"], "SYMBOL"),
        (["approved", "2026\udcff"], "TIMESTAMP"),
        (["regate", "config.toml", "--since", "2026\udcff"], "--since"),
        (["decide", "latest", "AAPL", "appr\udcff", "--reason", "ok"], "approve|drop"),
    ],
)
def test_an_argument_that_is_not_utf8_is_one_line_and_exit_2(
    any_workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    """A symbol, reason or time with bytes that are not UTF-8 (a terminal in another
    locale) is refused in one line naming it (each was a UnicodeEncodeError traceback)."""
    (any_workdir / "a_summary.json").write_bytes(summary_bytes("a"))
    assert main(["archive", "a_summary.json"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f": argument {named}: " in err
    assert "is not UTF-8 text (see" in err
    assert err.count("\n") == 1
    assert main(["audit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing was decided


def test_a_file_name_that_is_not_utf8_is_archived_and_shown_escaped(
    any_workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names of files keep their bytes: archived, rejected, and printed as \\udcXX
    (printed raw, each ended the command with UnicodeEncodeError)."""
    (any_workdir / "good\udcff_summary.json").write_bytes(summary_bytes("a"))
    (any_workdir / "bad\udcfe_summary.json").write_text("{}", "utf-8")
    assert main(["archive", "--verbose", "good\udcff_summary.json", "bad\udcfe_summary.json"]) == 1
    out, err = capsys.readouterr()
    assert "good\\udcff_summary.json" in out
    assert "bad\\udcfe_summary.json" in err
    assert main(["rejected"]) == 0
    assert "bad\\udcfe_summary.json" in capsys.readouterr().out
    for argv in (["archive", "--json", "good\udcff_summary.json"], ["rejected", "--json"]):
        main(argv)
        [document] = json.loads(capsys.readouterr().out)  # it encoded: UTF-8 JSON
        assert document["source"].endswith("\udcff_summary.json") or "\\udcfe" in str(document)


@pytest.mark.parametrize("given", ["whole", "prefix"])
def test_a_damaged_run_is_named_as_damaged_not_missing(
    workdir: Path, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """`approved` on a run whose record was damaged by hand says it is damaged and why, in
    one line (it said no archived run has that timestamp, with the folder in plain sight)."""
    from gating import TrainingArchiveManager

    manager = TrainingArchiveManager(workdir / "training_archives")
    damaged = manager.archive_training_run(summary_bytes("a")).timestamp
    manager.archive_training_run(summary_bytes("b"))
    (manager.archive_dir / damaged / "model_assessments.json").write_bytes(b"not json")
    assert run(capsys, "reindex")[0] == 0
    status, _out, err = run(capsys, "approved", damaged if given == "whole" else damaged[:-3])
    assert status == 1
    assert err.splitlines() == [
        f"gatewatch: run {damaged} is damaged, its folder cannot be read (model_assessments.json: "
        "Expecting value: line 1 column 1 (char 0)): `gatewatch reindex` lists every damaged run"
    ]


def test_rejected_over_a_file_where_rejected_belongs_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rejected` with a file in `_rejected/`'s place says it is not a folder, exit 1 (it
    said there were no rejected files, while the service failed each rejection)."""
    archive = workdir / "training_archives"
    archive.mkdir()
    (archive / "_rejected").write_bytes(b"x")
    status, _out, err = run(capsys, "rejected")
    assert status == 1
    assert err.splitlines() == [
        f"gatewatch: {archive / '_rejected'}: not a folder: no rejected file can be kept there"
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("has_config", [False, True])
def test_a_person_without_a_config_here_is_told_the_defaults_are_used(
    tmp_path: Path, has_config: bool
) -> None:
    """In a folder with no config.toml, a command run from a terminal says it uses the
    defaults and how to name a config (it answered "no runs archived yet", silently, from
    an archive of its own); with one, or with stderr not a terminal, nothing is added."""
    if has_config:
        (tmp_path / "config.toml").write_text(default_config_text(), "utf-8")
    command = [*gatewatch_command(), "runs"]
    env = {k: v for k, v in os.environ.items() if k != "GATEWATCH_CONFIG"}
    main_side, terminal = pty.openpty()
    try:
        done = subprocess.run(
            command, stderr=terminal, stdout=subprocess.PIPE, cwd=tmp_path, env=env,
            timeout=30, check=False,
        )  # fmt: skip
        os.close(terminal)
        said = _read_all(main_side)
    finally:
        os.close(main_side)
    assert done.returncode == 0
    assert ("no ./config.toml here: using the defaults" in said) is not has_config
    piped = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=30, check=False
    )
    assert "config.toml" not in piped.stderr


def _read_all(fd: int) -> str:
    """What a terminal's other side was sent (until it was closed)."""
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the writer side is closed and drained
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.mark.timeout(60)
def test_sigterm_unwinds_a_command_as_ctrl_c_does(tmp_path: Path) -> None:
    """A command sent SIGTERM while it waits (here for the writer lock) unwinds as for
    Ctrl-C, says so in one line and exits 143 (it died where it stood: regate left its
    workers behind, export its staging folder)."""
    archive = tmp_path / "archive"
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\ndir = "{archive}"\n', "utf-8")
    archive.mkdir()
    lock = FileLock(archive / ".lock")
    lock.acquire(5)
    try:
        command = subprocess.Popen(
            [*gatewatch_command(), "--config", str(config), "compact"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def waiting_for_the_lock() -> bool:
            fds = Path(f"/proc/{command.pid}/fd")
            with contextlib.suppress(OSError):
                return any(os.readlink(fd) == str(archive / ".lock") for fd in fds.iterdir())
            return False

        wait_until(waiting_for_the_lock, 30, "compact to wait for the writer lock")
        command.terminate()
        _, err = command.communicate(timeout=30)
    finally:
        lock.release()
    assert (command.returncode, err) == (143, "gatewatch: interrupted\n")


@pytest.mark.timeout(60)
def test_sigterm_to_a_service_still_starting_is_a_clean_stop(tmp_path: Path) -> None:
    """`gatewatch run` sent SIGTERM while it still starts (here, trying a database that
    is away, before its own handlers are in place) exits 0, as a stop: 143 made systemd
    call a `systemctl stop` a failure."""
    silent = socket.socket()  # takes connections and never answers: a database away
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    (tmp_path / "in").mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\ndir = "archive"\nurl = "postgresql://gw@127.0.0.1:{port}/gw"\n'
        '[watch]\npaths = ["in"]\n',
        "utf-8",
    )
    service = subprocess.Popen(
        [*gatewatch_command(), "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def connecting() -> bool:
        with contextlib.suppress(OSError):
            fds = Path(f"/proc/{service.pid}/fd").iterdir()
            return any(os.readlink(fd).startswith("socket:") for fd in fds)
        return False

    try:
        wait_until(connecting, 30, "the service to try the database")
        service.terminate()
        _, err = service.communicate(timeout=30)
    finally:
        silent.close()
        if service.poll() is None:
            service.kill()
            service.communicate(timeout=10)
    assert service.returncode == 0, err
    assert "interrupted" not in err


def test_the_same_invalid_file_archived_again_is_told_again_and_kept_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`archive` of an invalid file a second and third time says the same reason, exit 1,
    and `_rejected/` keeps one copy (each run kept another: `rejected` listed it thrice)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[archive]\ndir = "{tmp_path / "archive"}"\n', "utf-8")
    bad = tmp_path / "bad_summary.json"
    bad.write_text('{"models": "nope"}', "utf-8")
    said = []
    for _ in range(3):
        assert main(["--config", str(config), "archive", str(bad)]) == 1
        said.append(capsys.readouterr().err)
    assert said[0].startswith(f"gatewatch: {bad}: rejected: ")
    assert said == [said[0]] * 3
    copies = [p for p in (tmp_path / "archive" / "_rejected").iterdir() if p.suffix == ".json"]
    assert len([p for p in copies if p.name.endswith(".reason.json")]) == 1


def test_a_sighup_while_the_service_opens_its_archive_is_a_reload_asked_for(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` takes SIGHUP as a reload from before the archive is opened (a rebuild there
    can take minutes): the service is handed it (the signal's default action ended it)."""
    given: list[SignalEvents] = []

    class Opening:
        """A service whose archive takes long to open: a SIGHUP comes meanwhile."""

        def __init__(self, *_args: object, signals: SignalEvents, **_: object) -> None:
            os.kill(os.getpid(), signal.SIGHUP)  # as `systemctl reload` in the middle of it
            given.append(signals)

        def run(self) -> int:
            return 0

    before = signal.getsignal(signal.SIGHUP)
    monkeypatch.setattr(daemon.service, "Service", Opening)
    try:
        assert main(["run"]) == 0
    finally:
        signal.signal(signal.SIGHUP, before)
    (signals,) = given
    assert signals.reload.wait(10)
    assert not signals.stop.is_set()
