"""Fixtures of the command line's tests: a current folder with the default config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import default_config_text


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a config.toml, used as the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    (tmp_path / "config.toml").write_text(default_config_text(), "utf-8")
    return tmp_path
