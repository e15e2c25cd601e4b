"""The command line as a new user meets it: versions, pipes, folders, stdin, empty answers."""

from __future__ import annotations

import io
import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from benchmarks.common import gatewatch_command
from daemon.cli import main
from gating import TrainingArchiveManager
from gating.report import render_recommendations
from tests.conftest import make_model, make_summary, summary_bytes
from tests.daemon.cli.test_main import run


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """gatewatch --version prints the installed version and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == "gatewatch 0.1.0"


@pytest.mark.timeout(60)
def test_a_closed_pipe_is_silent_and_exits_0(workdir: Path) -> None:
    """`gatewatch runs | head -1`: no Broken pipe message, status 0."""
    manager = TrainingArchiveManager(workdir / "training_archives")
    manager.archive_training_runs(
        [json.dumps(make_summary(f"run-{i:04d}-" + "x" * 40)).encode() for i in range(1500)]
    )
    with subprocess.Popen(
        [*gatewatch_command(), "runs"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as reader:
        assert reader.stdout is not None
        assert reader.stderr is not None
        assert reader.stdout.readline().startswith(b"TIMESTAMP")
        reader.stdout.close()
        assert reader.wait(timeout=30) == 0
        assert reader.stderr.read() == b""


def test_json_is_honoured_by_config_show_check_and_init(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config show/check/init --json print one JSON document each."""
    shown = json.loads(run(capsys, "config", "show", "--json")[1])
    assert shown["watch"]["paths"] == [str(workdir / "training_output")]
    checked = json.loads(run(capsys, "--json", "config", "check")[1])
    assert checked == {
        "ok": True,
        "source": str(workdir / "config.toml"),
        "missing_paths": [str(workdir / "training_output")],
    }
    wrote = json.loads(run(capsys, "config", "init", "new.toml", "--json")[1])
    assert wrote == {"wrote": "new.toml"}


@pytest.mark.timeout(60)
def test_run_json_logs_json_lines_whatever_the_config_says(workdir: Path) -> None:
    """`gatewatch run --json` logs JSON lines even with [logging] format = "console"."""
    (workdir / "config.toml").write_text('[logging]\nformat = "console"\n', "utf-8")
    (workdir / "training_output").mkdir()
    with subprocess.Popen(
        [*gatewatch_command(), "run", "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as service:
        assert service.stdout is not None
        try:
            first = json.loads(service.stdout.readline())
            assert first["event"] == "daemon_started"
        finally:
            service.terminate()
            assert service.wait(timeout=15) == 0


def test_archive_a_folder_takes_its_summaries_and_ends_with_totals(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """archive FOLDER goes through it recursively with the globs; one totals line at the end."""
    drop = workdir / "drop"
    (drop / "deep").mkdir(parents=True)
    (drop / "a_summary.json").write_bytes(summary_bytes("a"))
    (drop / "deep" / "b_summary.json").write_bytes(summary_bytes("b"))
    (drop / "deep" / "c_summary.json.tmp").write_bytes(summary_bytes("c"))
    (drop / "notes.json").write_bytes(summary_bytes("d"))
    (drop / "dup_summary.json").write_bytes(summary_bytes("a"))
    status, out, err = run(capsys, "archive", "drop")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("duplicate: drop/dup_summary.json -> ")
    assert lines[1] == "3 files matching *summary*.json: 2 archived, 1 duplicate"
    assert len(lines) == 2
    (drop / "e_summary.json").write_bytes(summary_bytes("e"))
    status, out, _ = run(capsys, "archive", "--verbose", "drop")
    assert "archived: drop/e_summary.json -> " in out
    assert "duplicate: drop/a_summary.json -> " in out


def test_assess_dash_reads_stdin(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """assess - gates the summary given on standard input."""
    stdin = io.TextIOWrapper(io.BytesIO(summary_bytes("piped")))
    monkeypatch.setattr("sys.stdin", stdin)
    status, out, _ = run(capsys, "assess", "-", "--json")
    assert status == 0
    assert [m["symbol"] for m in json.loads(out)] == ["SYM0", "SYM1", "SYM2"]


@pytest.mark.parametrize("extra", [0, 1, 3 << 20])
def test_assess_dash_reads_no_more_than_max_file_bytes(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, extra: int
) -> None:
    """assess - takes a summary of exactly max_file_bytes and refuses one byte more, in one
    line (stdin is read in steps, never one buffer of max_file_bytes)."""
    config = workdir / "config.toml"
    config.write_text(config.read_text("utf-8").replace("16777216", "1048576"), "utf-8")
    raw = summary_bytes("piped")
    raw += b" " * (1048576 - len(raw) + extra)  # JSON allows trailing spaces
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    status, out, err = run(capsys, "assess", "-", "--json")
    if extra == 0:
        assert (status, err) == (0, "")
        assert [m["symbol"] for m in json.loads(out)] == ["SYM0", "SYM1", "SYM2"]
    else:
        assert (status, out) == (1, "")
        assert err == "gatewatch: -: more than max_file_bytes (1048576) on stdin\n"


def test_empty_answers_name_the_archive_and_a_wrong_case_is_suggested(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No runs: the message names the archive; history aapl suggests AAPL."""
    archive = workdir / "training_archives"
    assert run(capsys, "runs")[2].strip() == f"no runs archived yet in {archive}"
    assert run(capsys, "approved")[2].strip() == f"no runs archived yet in {archive}"
    (workdir / "s_summary.json").write_text(json.dumps({"models": {"AAPL": make_model()}}))
    run(capsys, "archive", "s_summary.json")
    status, _, err = run(capsys, "history", "aapl")
    assert status == 0
    assert err.strip() == (
        f"no archived run gated aapl in {archive} (symbols are case-sensitive: did you mean AAPL?)"
    )


@pytest.mark.parametrize(
    "query",
    [
        ["runs"],
        ["approved"],
        ["history", "AAPL"],
        ["deployable"],
        ["review"],
        ["audit"],
        ["runs", "--json"],
        ["rejected"],
    ],
)
def test_a_query_on_a_folder_of_other_files_writes_nothing_there(
    workdir: Path, capsys: pytest.CaptureFixture[str], query: list[str]
) -> None:
    """An archive dir that names a folder of other files (a typo, say): a query answers as
    an empty archive and leaves the folder as it was (it made a catalog and a .lock
    there); the first run archived makes the catalog."""
    folder = workdir / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", "utf-8")
    (workdir / "config.toml").write_text('[archive]\ndir = "notes"\n', "utf-8")
    status, _, _ = run(capsys, *query)
    assert status == 0
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (workdir / "s_summary.json").write_bytes(summary_bytes("s"))
    assert run(capsys, "archive", "s_summary.json")[0] == 0
    assert (folder / "catalog.sqlite3").is_file()
    assert json.loads(run(capsys, "runs", "--json")[1])[0]["run_id"] == "s"


def test_human_tables_fit_100_columns(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """history, runs and assess tables stay within 100 columns with long ids and many flags."""
    model = make_model(0.3, 1.0, 0.5, 0.2, [0.9, 0.1, 0.8, 0.1, 0.2])
    summary = {"run_id": "ppo-" + "long-run-name-" * 6, "models": {"AAPL": model}}
    (workdir / "s_summary.json").write_text(json.dumps(summary))
    run(capsys, "archive", "s_summary.json")
    for argv in (["history", "AAPL"], ["runs"], ["assess", "s_summary.json"]):
        status, out, _ = run(capsys, *argv)
        assert status == 0
        assert max(len(line) for line in out.splitlines()) <= 100, argv
    assert "…" in run(capsys, "history", "AAPL")[1]


def test_assess_and_the_report_show_numbers_alike(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Consistency and drawdown are percents in assess as in recommendations.md."""
    (workdir / "s_summary.json").write_text(
        json.dumps({"models": {"AAPL": make_model(0.75, 1.9, 0.86, 0.06)}})
    )
    _, out, _ = run(capsys, "assess", "s_summary.json")
    assert out.splitlines()[1].split()[2:6] == ["0.75", "1.9", "86.0%", "6.0%"]
    report = render_recommendations(
        TrainingArchiveManager(workdir / "a").assess((workdir / "s_summary.json").read_bytes())
    )
    assert "| AAPL | 0.75 | 1.9 | 86.0% | 6.0% |" in report


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the archive to another user")
def test_a_write_command_as_another_user_than_the_archive_owner_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compact as root on an archive owned by nobody exits 2 naming the owner; nothing changes."""
    (workdir / "s_summary.json").write_bytes(summary_bytes("a"))
    run(capsys, "archive", "s_summary.json")
    archive = workdir / "training_archives"
    for path in [archive, *archive.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    before = sorted((p.name, p.stat().st_uid, p.stat().st_mtime_ns) for p in archive.rglob("*"))
    owner = pwd.getpwuid(65534).pw_name
    for command in (["compact"], ["reindex"], ["archive", "s_summary.json"]):
        status, _, err = run(capsys, *command)
        assert status == 2
        assert err.strip().endswith(f"run sudo -u {owner} gatewatch {command[0]} ...")
        assert f"{archive} belongs to {owner}" in err
    script = gatewatch_command()  # started by its full path: named so (sudo's PATH may lack it)
    done = subprocess.run(
        [*script, "compact"], cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )
    said = script[0] if script[0].endswith("/gatewatch") else "gatewatch"
    assert done.stderr.endswith(f"run sudo -u {owner} {said} compact ...\n")
    after = sorted((p.name, p.stat().st_uid, p.stat().st_mtime_ns) for p in archive.rglob("*"))
    assert after == before
    assert run(capsys, "runs")[0] == 0  # reading is fine


def test_the_owner_check_is_injected(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main(owner_check=...) decides for write commands only."""
    asked: list[tuple[Path, str]] = []

    def refuse(archive: Path, command: str) -> str:
        asked.append((archive, command))
        return "not yours"

    (workdir / "training_archives").mkdir()
    assert main(["compact"], owner_check=refuse) == 2
    assert capsys.readouterr().err == "gatewatch: not yours\n"
    assert main(["runs"], owner_check=refuse) == 0
    assert asked == [(workdir / "training_archives", "compact")]


def test_cut_run_ids_keep_their_distinguishing_ends(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Long run ids that share a prefix are cut in the middle, so each row still tells apart."""
    prefix = "ppo-2026-11-26-" + "sweep-" * 12
    for tail in ("lr3e4-seed1", "lr3e4-seed2"):
        summary = {"run_id": prefix + tail, "models": {"AAPL": make_model()}}
        (workdir / f"{tail}_summary.json").write_text(json.dumps(summary))
        run(capsys, "archive", f"{tail}_summary.json")
    rows = run(capsys, "runs")[1].splitlines()[1:]
    assert [row.split()[1][-6:] for row in rows] == ["-seed1", "-seed2"]
    assert all(row.split()[1].startswith("ppo-2026") and "…" in row for row in rows)
