"""[gating.champion] in config.toml: parsed with the thresholds, errors naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.config import config_changes, config_to_toml, load_config, parse_config
from gating import ModelGatingConfig


def write(tmp_path: Path, text: str) -> Path:
    """A config file holding ``text``."""
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_default_table_is_empty(tmp_path: Path) -> None:
    """No [gating.champion]: nothing is compared."""
    config = load_config(write(tmp_path, "[gating]\napproved_min_fitness = 0.7\n"))
    assert dict(config.gating.champion_tolerances) == {}
    assert "champion" not in tomllib.loads(config_to_toml(config))["gating"]


def test_the_table_is_read_and_shown(tmp_path: Path) -> None:
    """The table is part of the gating config, and `config show` writes it back."""
    path = write(tmp_path, "[gating.champion]\nfitness = 0.02\nmax_drawdown = 0.1\n")
    config = load_config(path)
    assert config.gating == ModelGatingConfig(
        champion_tolerances={"fitness": 0.02, "max_drawdown": 0.1}
    )
    shown = tomllib.loads(config_to_toml(config))["gating"]["champion"]
    assert shown == {"fitness": 0.02, "max_drawdown": 0.1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gating.champion]\nfitnes = 0.02\n", "gating.champion.fitnes: unknown metric"),
        ("[gating.champion]\nfitness = -0.02\n", "gating.champion.fitness: -0.02 must not be"),
        ("[gating.champion]\nfitness = 'x'\n", "gating.champion.fitness: 'x' is not a number"),
        ("[gating]\nchampion = 0.02\n", "gating.champion: expected a table"),
    ],
)
def test_bad_tables_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """`config check` on a bad table: exit 2, one line on stderr naming the key."""
    path = write(tmp_path, text)
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_champion_key_that_comes_or_goes_is_a_change(tmp_path: Path) -> None:
    """A reload that adds or removes a [gating.champion] key names it as changed."""
    before = parse_config({}, tmp_path)
    after = parse_config({"gating": {"champion": {"fitness": 0.02}}}, tmp_path)
    assert config_changes(before, after) == {"gating.champion.fitness": (None, 0.02)}
    assert config_changes(after, before) == {"gating.champion.fitness": (0.02, None)}
