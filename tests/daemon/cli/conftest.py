"""Fixtures of the command line's tests: a current folder with the default config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import default_config_text
from tests.conftest import with_url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a config.toml, used as the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    (tmp_path / "config.toml").write_text(default_config_text(), "utf-8")
    return tmp_path


@pytest.fixture(params=["folder", "shared"])
def any_workdir(request: pytest.FixtureRequest, workdir: Path) -> Path:
    """``workdir`` with its archive a folder, then a shared database (commands that apply
    to both modes)."""
    if request.param == "shared":
        config = workdir / "config.toml"
        url = request.getfixturevalue("pg_url")
        config.write_text(with_url(config.read_text("utf-8"), url), "utf-8")
    return workdir
