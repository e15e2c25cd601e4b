"""Tests for daemon.cli.admin: reindex, compact and config check from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main
from gating import TrainingArchiveManager
from tests.conftest import make_summary


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder with a three-run archive and no config file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    with TrainingArchiveManager(tmp_path / "training_archives") as archive:
        archive.archive_training_runs([make_summary(name) for name in "abc"])
    return tmp_path


@pytest.mark.parametrize("command", ["reindex", "compact"])
def test_upkeep_rebuilds_from_the_folders_and_counts_the_runs(
    here: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the catalog and index.json deleted, reindex and compact still list every run."""
    archive = here / "training_archives"
    (archive / "index.json").unlink()
    if command == "reindex":
        (archive / "catalog.sqlite3").unlink()
    assert main([command, "--json"]) == 0
    verb = {"reindex": "reindexed", "compact": "compacted"}[command]
    assert json.loads(capsys.readouterr().out) == {verb: True, "runs": 3}
    index = json.loads((archive / "index.json").read_text("utf-8"))
    assert [run["run_id"] for run in index["runs"]] == ["a", "b", "c"]


@pytest.mark.parametrize("command", ["reindex", "compact"])
@pytest.mark.parametrize("there", ["nothing", "a file", "a dangling symlink"])
def test_upkeep_of_no_archive_says_so_and_makes_none(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    there: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Where [archive] dir names no folder, reindex and compact fail in one line naming it
    and make nothing (they made an empty archive: "reindexed: 0 runs"; a file or a dangling
    symlink said "File exists")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    archive = tmp_path / "training_archives"
    if there == "a file":
        archive.write_text("x")
    elif there == "a dangling symlink":
        archive.symlink_to(tmp_path / "gone")
    before = sorted(tmp_path.iterdir())
    assert main([command]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"gatewatch: {archive}: no archive folder there, nothing to {command} "
        "(see [archive] dir)\n",
    )
    assert sorted(tmp_path.iterdir()) == before


def test_config_check_names_a_bad_key_in_one_line(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config with an unknown key: exit 2 and one line naming it; a good one: `config OK`."""
    (here / "config.toml").write_text("[gating]\nfitness_typo = 1\n", "utf-8")
    assert main(["config", "check"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "fitness_typo" in error[0]
    (here / "config.toml").write_text("[gating]\n", "utf-8")
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith("config OK:")


@pytest.mark.parametrize(
    ("folder", "said"),
    [
        ("notes.txt/archive", "archive.dir: {here}/notes.txt/archive cannot be a folder "
         "({here}/notes.txt is not a folder)"),
        ("notes.txt", "archive.dir: {here}/notes.txt cannot be a folder"),
        ("not/made/yet", None),
    ],
)  # fmt: skip
def test_config_check_names_an_archive_dir_that_cannot_be_a_folder(
    here: Path, capsys: pytest.CaptureFixture[str], folder: str, said: str | None
) -> None:
    """An archive dir that is a file, or under one, is exit 2 and one line (it said
    `config OK`, then `run` exited 1 with 'Not a directory'); one not made yet is fine."""
    (here / "notes.txt").write_text("x", "utf-8")
    (here / "config.toml").write_text(f'[archive]\ndir = "{folder}"\n', "utf-8")
    if said is None:
        assert main(["config", "check"]) == 0
        return
    assert main(["config", "check"]) == 2
    assert (
        capsys.readouterr().err == f"gatewatch: {here / 'config.toml'}: {said.format(here=here)}\n"
    )


def test_config_check_names_a_watched_path_that_is_a_file(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A watched path that is a file is exit 2 and one line (it said `config OK`, and that
    the path does not exist)."""
    (here / "notes.txt").write_text("x", "utf-8")
    (here / "config.toml").write_text('[watch]\npaths = ["notes.txt"]\n', "utf-8")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"gatewatch: {here / 'config.toml'}: watch.paths: {here / 'notes.txt'} is not a folder\n"
    )


@pytest.mark.parametrize(
    ("config", "status", "said"),
    [
        ('[archive]\ndir = "locked/archive"\n', 2,
         "gatewatch: {here}/config.toml: archive.dir: {here}/locked/archive cannot be reached "
         "(Permission denied)\n"),
        ('[watch]\npaths = ["locked/in"]\n', 0,
         "gatewatch: warning: watch.paths: {here}/locked/in cannot be reached (Permission "
         "denied) (the service watches it once it can be reached)\n"),
    ],
)  # fmt: skip
def test_config_check_names_a_folder_behind_one_it_may_not_search(
    here: Path, config: str, status: int, said: str
) -> None:
    """A folder of mode 0 on the way to the archive or a watched folder, in a process
    without root's override: the archive is exit 2 and one line (it said `config OK`, then
    `run` failed on `_rejected`), the watched folder a warning saying why (it said the
    folder does not exist; the service exited 1 on it)."""
    (here / "locked" / "in").mkdir(parents=True)
    (here / "config.toml").write_text(config, "utf-8")
    (here / "locked").chmod(0)
    try:
        done = without_root(here, "config", "check")
        run = without_root(here, "run") if status == 2 else None
    finally:
        (here / "locked").chmod(0o755)
    assert (done.returncode, done.stderr) == (status, said.format(here=here))
    if run is not None:  # `run` refuses it alike (it exited 1 on `_rejected`)
        assert (run.returncode, run.stderr) == (status, said.format(here=here))


def test_reindex_names_each_damaged_run_folder_in_one_line(here: Path) -> None:
    """A run folder whose record is cut short: reindex counts the others and names it on
    stderr in one line (not a bare log event), in a real process."""
    archive = here / "training_archives"
    cut = sorted(p for p in archive.iterdir() if p.name[:1].isdigit())[1]
    record = cut / "model_assessments.json"
    record.write_bytes(record.read_bytes()[:20])
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "reindex"],
        cwd=here, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "reindexed: 2 runs\n")
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gatewatch: skipped the damaged run folder {cut.name}: ")


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("another form of the time", "not a decision: decided_at: "),
        ("a symlink to /dev/zero", "a symlink, never followed"),
    ],
)
def test_reindex_names_each_damaged_decision_file_in_one_line(
    here: Path, damage: str, said: str
) -> None:
    """A decision file edited to another form of the time, or replaced by a symlink, is
    left out of every answer: reindex names it on stderr in one line (it said only
    `reindexed`, and the audit lost a person's decision without a word; a symlink was
    'Too many levels of symbolic links')."""
    with TrainingArchiveManager(here / "training_archives") as archive:
        archive.decide("latest", "SYM0", "drop", by="ann", reason="leaks", force=True)
    (path,) = (here / "training_archives" / "decisions").glob("*.json")
    if damage == "a symlink to /dev/zero":
        path.unlink()
        path.symlink_to("/dev/zero")
    else:
        record = json.loads(path.read_text("utf-8"))
        path.write_text(json.dumps({**record, "decided_at": "2026-12-05T10:00:00+00:00"}))
    done = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "reindex"],
        cwd=here, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "reindexed: 3 runs\n")
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"gatewatch: skipped the damaged decision file {path}: {said}"), line


def without_root(here: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`gatewatch COMMAND` in ``here``, in a process without root's override of file modes
    (a file of mode 0 cannot be read, as by the service's user)."""
    as_user = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*as_user, sys.executable, "-m", "daemon.cli", *command],
        cwd=here, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_reindex_never_takes_a_run_it_cannot_read_now_for_damaged(here: Path) -> None:
    """A run record the process may not read: reindex fails in one line naming it, and
    nothing changes (the run was listed damaged and its symbols' champions fell back to
    older runs, until the next reindex)."""
    archive = here / "training_archives"
    newest = sorted(p for p in archive.iterdir() if p.name[:1].isdigit())[-1]
    before = without_root(here, "deployable", "--json").stdout
    (newest / "model_assessments.json").chmod(0)
    done = without_root(here, "reindex")
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.count("\n") == 1
    assert "model_assessments.json: cannot be read now (Permission denied)" in done.stderr
    (newest / "model_assessments.json").chmod(0o644)
    assert without_root(here, "deployable", "--json").stdout == before
    assert without_root(here, "reindex").stdout == "reindexed: 3 runs\n"


def test_reindex_never_skips_a_decision_it_cannot_read_now(here: Path) -> None:
    """A decision file the process may not read: reindex and deployable fail in one line
    naming it (not the model a person dropped listed as deployable), and list it once it
    can be read again, in a real process without root's override."""
    with TrainingArchiveManager(here / "training_archives") as archive:
        dropped = archive.decide("latest", "SYM0", "drop", by="ann", reason="leaks", force=True)
    (path,) = (here / "training_archives" / "decisions").glob("*.json")
    (here / "training_archives" / "catalog.sqlite3").unlink()
    path.chmod(0)

    def gatewatch(*command: str) -> subprocess.CompletedProcess[str]:
        return without_root(here, *command)

    for command in ("reindex", "deployable"):
        done = gatewatch(command)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.count("\n") == 1
        assert f"{path.name}: cannot be read now (Permission denied)" in done.stderr
    path.chmod(0o644)
    assert gatewatch("reindex").returncode == 0
    (audited,) = json.loads(gatewatch("audit", "--json").stdout)
    assert (audited["symbol"], audited["verdict"]) == (dropped.symbol, "DROP")
    champion = json.loads(gatewatch("deployable", "--json").stdout)["SYM0"]
    assert champion["timestamp"] != dropped.timestamp  # an older run's SYM0, not the dropped
