"""Tests for daemon.config: defaults, validation, path resolution and TOML output."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from daemon.config import (
    Config,
    config_changes,
    config_to_toml,
    default_config_text,
    load_config,
    parse_config,
)
from daemon.errors import ConfigError
from gating import ModelGatingConfig

REPO = Path(__file__).resolve().parents[2]


def test_repository_config_is_the_default() -> None:
    """config.toml in the repository is exactly what `config init` writes."""
    assert (REPO / "config.toml").read_text("utf-8") == default_config_text()


def test_default_config_file_gives_the_defaults(tmp_path: Path) -> None:
    """Loading the shipped default file equals the built-in defaults."""
    path = tmp_path / "config.toml"
    path.write_text(default_config_text(), "utf-8")
    config = load_config(path)
    assert config.gating == ModelGatingConfig()
    assert config.watch.paths == (tmp_path / "training_output",)
    assert config.archive.dir == tmp_path / "training_archives"
    assert config.watch.settle_seconds == 1.0


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    """A config an editor saved with a UTF-8 byte-order mark reads as without one (it was
    'invalid TOML ... at line 1, column 1', the mark not named)."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[gating]\napproved_min_fitness = 0.8\n")
    assert load_config(path).gating.approved_min_fitness == 0.8


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Relative paths in the file are relative to the file, absolute ones stay."""
    path = tmp_path / "etc" / "gw.toml"
    path.parent.mkdir()
    path.write_text('[watch]\npaths = ["in", "/abs"]\n[archive]\ndir = "../arch"\n', "utf-8")
    config = load_config(path)
    assert config.watch.paths == (path.parent / "in", Path("/abs"))
    assert config.archive.dir == path.parent / ".." / "arch"


def test_no_config_file_means_defaults_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config, $GATEWATCH_CONFIG or ./config.toml the defaults apply here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    config = load_config(None)
    assert config.source is None
    assert config.archive.dir == tmp_path / "training_archives"


def test_environment_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$GATEWATCH_CONFIG is used when no --config is given, and must exist."""
    path = tmp_path / "c.toml"
    path.write_text("[logging]\nlevel = 'debug'\n", "utf-8")
    monkeypatch.setenv("GATEWATCH_CONFIG", str(path))
    assert load_config(None).logging.level == "debug"
    monkeypatch.setenv("GATEWATCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[watch]\npathz = []\n", "watch.pathz: unknown key"),
        ("[nope]\n", "nope: unknown section"),
        ("[watch]\nsettle_seconds = 'x'\n", "watch.settle_seconds: expected a number"),
        ("[watch]\nrecursive = 1\n", "watch.recursive: expected a boolean"),
        ("[watch]\nmax_file_bytes = 1.5\n", "watch.max_file_bytes: expected an integer"),
        ("[watch]\npaths = 'x'\n", "watch.paths: expected a list of strings"),
        ("[watch]\nobserver = 'magic'\n", "watch.observer"),
        ("[watch]\nsettle_seconds = 0\n", "watch.settle_seconds: 0.0 must be positive"),
        ("[watch]\nsettle_seconds = nan\n", "watch.settle_seconds: nan must be positive"),
        ("[schedule]\nrescan_seconds = inf\n", "schedule.rescan_seconds: inf must be positive"),
        ("[schedule]\ncompact_seconds = nan\n", "schedule.compact_seconds: nan must be positive"),
        ("[gating]\napproved_min_fitnes = 0.7\n", "gating.approved_min_fitnes: not a gating"),
        ("[gating]\nreview_min_pf = 2.5\n", "gating.review_min_pf: 2.5 must not be stricter"),
        (
            "[gating]\napproved_min_fitness = 0.4\n",
            r"gating.review_min_fitness: 0.5 must not be stricter than "
            r"approved_min_fitness \(0.4\)",
        ),
        ("[schedule]\nreindex_cron = 'every day'\n", "schedule.reindex_cron"),
        ("[schedule]\nrescan_seconds = -1\n", "schedule.rescan_seconds"),
        ("[logging]\nformat = 'xml'\n", "logging.format"),
        ("[logging]\nlevel = 'loud'\n", "logging.level"),
        ("watch = 1\n", "watch: expected a table"),
        ("[watch\n", "invalid TOML"),
        ("x = " + "[" * 600 + "]" * 600 + "\n", "invalid TOML: arrays or tables nested too"),
        ("[watch]\nmax_file_bytes = true\n", "watch.max_file_bytes: expected an integer"),
        ("[watch]\nsettle_seconds = false\n", "watch.settle_seconds: expected a number"),
        ("[schedule]\nrescan_seconds = true\n", "schedule.rescan_seconds: expected a number"),
        ("[serve]\nport = true\n", "serve.port: expected an integer"),
        ('[archive]\ndir = "a\\u0000b"\n', "archive.dir: 'a.x00b' holds a NUL character"),
        ('[archive]\ndir = ""\n', "archive.dir: must name a folder, not be empty"),
        ('[watch]\npaths = ["in", "a\\u0000"]\n', "watch.paths: 'a.x00' holds a NUL"),
        ('[watch]\npaths = [""]\n', "watch.paths: each must name a folder, not be empty"),
        ('[[notify.commands]]\nargv = ["a\\u0000"]\n', r"notify.commands\[0\].argv: 'a.x00' holds"),
        (f"[watch]\nsettle_seconds = {10**400}\n", r"watch.settle_seconds: 1000.*… is out of"),
        (f"[schedule]\nrescan_seconds = -{10**400}\n", "schedule.rescan_seconds: -1000.*out of"),
        (f"[gating.champion]\nfitness = {10**400}\n", r"gating.champion.fitness: 1000.*too large"),
        (f"[serve]\nport = {2**63}\n", "serve.port: 9223372036854775808 is out of range"),
        (f"[watch]\nmax_file_bytes = {2**41}\n", "watch.max_file_bytes: 2199023255552 must be"),
        ("[watch]\nsettle_seconds = 1" + "0" * 5000 + "\n", "invalid TOML: a number too long"),
        (f"[notify]\nmax_attempts = {10**400}\n", r"notify.max_attempts: 1000.*… must be positive"),
        ('[serve]\npublic_url = "dash.example.com"\n', "serve.public_url: .*as a browser sees it"),
        (
            '[serve]\npublic_url = "ftp://dash.example.com"\n',
            "serve.public_url: .*as a browser sees it",
        ),
        (
            '[serve]\npublic_url = "https://ann:pw@dash.example.com"\n',
            "serve.public_url: .*as a browser sees it",
        ),
        (
            '[serve]\npublic_url = "https://dash.example.com/gatewatch"\n',
            "serve.public_url: .*as a browser sees it",
        ),
        (
            '[serve]\npublic_url = "https://dash.example.com/?a=1"\n',
            "serve.public_url: .*as a browser sees it",
        ),
        (
            '[serve]\npublic_url = "https://dash.example.com:99999"\n',
            "serve.public_url: .*as a browser sees it",
        ),
        ('[serve]\npublic_url = "https://"\n', "serve.public_url: .*as a browser sees it"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Each bad config is one ConfigError line that names the file and the key."""
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[watch]\npath = ['x']\n", "watch.path: unknown key (did you mean paths?)"),
        ("[gating]\napproved_min_fitnes = 0.7\n", "(did you mean approved_min_fitness?)"),
        ("[serve]\nprot = 8470\n", "serve.prot: unknown key (did you mean port?)"),
        ("[archive]\nuri = 'x'\n", "archive.uri: unknown key (did you mean url?)"),
        (
            "[watch]\nrescan_seconds = 5\n",
            "watch.rescan_seconds: unknown key (it belongs in [schedule])",
        ),
        ("[serve]\nformat = 'json'\n", "serve.format: unknown key (it belongs in [logging])"),
        ("[archive]\napproved_min_fitness = 0.7\n", "unknown key (it belongs in [gating])"),
        (
            "[serve]\nsender_token_env = 'X'\n",
            "serve.sender_token_env: unknown key$",
        ),  # not token_env
        ("[watch]\npoll_seconds = 5\n", "watch.poll_seconds: unknown key$"),
        ("[watch]\nzzz = 1\n", "watch.zzz: unknown key$"),
        ("[gate]\nx = 1\n", "gate: unknown section (did you mean gating?)"),
        ("[zzz]\nx = 1\n", "zzz: unknown section$"),
    ],
)
def test_a_misspelt_key_is_told_the_key_it_is_closest_to(
    tmp_path: Path, text: str, message: str
) -> None:
    """An unknown key close to a real one names that one too (none when none is close)."""
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=re.escape(message.rstrip("$")) + "$"):
        load_config(path)


def test_config_show_round_trips(tmp_path: Path) -> None:
    """The TOML that `config show` prints loads back to the same effective config."""
    config = parse_config({"gating": {"approved_min_fitness": 0.8}}, tmp_path)
    again = parse_config(tomllib.loads(config_to_toml(config)), Path("/elsewhere"))
    assert again == config
    assert isinstance(again, Config)


@pytest.mark.parametrize(
    "text", ["[watch]\nsettle_seconds = 2.0\n[archive]\n", "[logging]\nlevel = 'debug'\n"]
)
def test_default_paths_resolve_against_the_config_folder(tmp_path: Path, text: str) -> None:
    """A config without paths (or with an empty [archive]) keeps defaults in its own folder."""
    path = tmp_path / "etc" / "gw.toml"
    path.parent.mkdir()
    path.write_text(text, "utf-8")
    config = load_config(path)
    assert config.watch.paths == (path.parent / "training_output",)
    assert config.archive.dir == path.parent / "training_archives"


def test_config_changes_name_each_changed_key() -> None:
    """config_changes lists section.key with the old and the new value, nothing else."""
    old = parse_config({}, Path("/base"))
    new = parse_config(
        {"gating": {"approved_min_fitness": 0.8}, "watch": {"paths": ["other"]}}, Path("/base")
    )
    assert config_changes(old, new) == {
        "watch.paths": (["/base/training_output"], ["/base/other"]),
        "gating.approved_min_fitness": (0.7, 0.8),
    }
    assert config_changes(old, old) == {}


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("kind", "says"),
    [("fifo", "not a regular file"), ("/dev/zero", "not a regular file"), ("big", "larger than")],
)
def test_a_config_that_is_no_regular_file_is_one_line(tmp_path: Path, kind: str, says: str) -> None:
    """A FIFO, /dev/zero or a 2 MB file as config.toml is ConfigError at once (a SIGHUP
    with a FIFO hung the service past SIGTERM; /dev/zero filled the memory)."""
    path = tmp_path / "config.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "big":
        path.write_bytes(b"# " + b"x" * 2_000_000 + b"\n")
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=f"cannot read config: {says}"):
        load_config(path)


def test_a_config_reached_by_a_symlink_is_read(tmp_path: Path) -> None:
    """A config.toml that is a link to the real file (config management) is followed."""
    real = tmp_path / "real.toml"
    real.write_text("[logging]\nlevel = 'debug'\n", "utf-8")
    (tmp_path / "config.toml").symlink_to(real)
    assert load_config(tmp_path / "config.toml").logging.level == "debug"
