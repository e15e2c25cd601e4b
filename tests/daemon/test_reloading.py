"""Tests for daemon.reloading: the config read again at SIGHUP, and `serve`'s reload."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from daemon.config import parse_config
from daemon.reloading import ConfigReader, ThresholdReloader
from gating import TrainingArchiveManager
from tests.daemon.fakes import FakeLog
from tests.process import wait_until


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder to run in, with no $GATEWATCH_CONFIG: ./config.toml is the config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "the file is empty (being saved?)"),
        ("  \n\t\n", "the file is empty (being saved?)"),
        ("\ufeff\n", "the file is empty (being saved?)"),  # a byte-order mark alone
        ("[gating\n", "invalid TOML"),
    ],
)
def test_a_file_an_editor_is_saving_keeps_what_runs(here: Path, text: str, error: str) -> None:
    """An empty file (an editor between truncating and writing it) is refused like a bad
    one, with `config_reload_failed` (it loaded the defaults: every threshold loosened)."""
    config = here / "config.toml"
    config.write_text("[gating]\napproved_min_fitness = 0.8\n", "utf-8")
    log = FakeLog()
    reader = ConfigReader(None, parse_config({}, here, config), log)
    config.write_text(text, "utf-8")
    assert reader.read() is None
    (failed,) = log.named("config_reload_failed", "error")
    assert error in failed["error"]
    assert failed["kept"] == "previous thresholds"


def test_a_file_made_after_the_start_is_required_once_read(here: Path) -> None:
    """Started on the defaults, a ./config.toml made since is read; removed again, the
    reload fails (it went back to the defaults without a word)."""
    log = FakeLog()
    reader = ConfigReader(None, parse_config({}, here), log)
    assert reader.read() is not None  # nothing there yet: the defaults, as at the start
    (here / "config.toml").write_text("[gating]\napproved_min_fitness = 0.8\n", "utf-8")
    fresh = reader.read()
    assert fresh is not None
    assert fresh.gating.approved_min_fitness == 0.8
    (here / "config.toml").unlink()
    assert reader.read() is None
    (failed,) = log.named("config_reload_failed")
    assert "config file not found" in failed["error"]


def test_serves_reload_gives_the_archive_the_new_thresholds(here: Path) -> None:
    """A request has the thread read the file and give the archive its [gating], logged
    as `run` logs it (keys it cannot apply named); a bad file keeps them."""
    config = here / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    running = parse_config({"archive": {"dir": "archive"}}, here, config)
    manager = TrainingArchiveManager(here / "archive")
    log = FakeLog()
    reloader = ThresholdReloader(running, ConfigReader(None, running, log))
    asked = threading.Event()
    asked.set()  # asked before the archive is open: done once it is
    reloader.start(manager, asked)
    wait_until(lambda: log.named("config_reloaded"), 10, "the reload asked early")
    config.write_text(
        '[archive]\ndir = "archive"\n[serve]\nport = 9000\n[gating]\napproved_min_fitness = 0.8\n',
        "utf-8",
    )
    asked.set()
    reloaded = wait_until(lambda: log.named("config_reloaded", "warning"), 10, "the reload")
    assert reloaded[0]["changed"] == {
        "gating.approved_min_fitness": [0.7, 0.8],
        "serve.port": [8470, 9000],
    }
    assert reloaded[0]["not_applied"] == ["serve.port"]
    assert manager.config.approved_min_fitness == 0.8
    config.write_text("[gating]\napproved_min_fitness = 'high'\n", "utf-8")
    asked.set()
    wait_until(lambda: log.named("config_reload_failed"), 10, "the failed reload")
    assert manager.config.approved_min_fitness == 0.8


def test_a_reload_in_a_removed_current_folder_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started on the defaults in a folder removed since: the reload fails, logged (the
    FileNotFoundError of Path.cwd() ended `serve`'s reload thread: no later SIGHUP was
    heard)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    gone.rmdir()
    log = FakeLog()
    assert ConfigReader(None, parse_config({}, tmp_path), log).read() is None
    (failed,) = log.named("config_reload_failed", "error")
    assert "No such file or directory" in failed["error"]
