"""Tests for [notify] in config.toml: targets, timing keys, one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.config import Config, config_to_toml, default_config_text, load_config, parse_config
from daemon.errors import ConfigError
from gating.events import EVENT_TYPES


def notify(table: dict[str, Any], base: Path = Path("/etc/gw")) -> Config:
    """parse_config of a document holding only [notify]."""
    return parse_config({"notify": table}, base)


def test_defaults_have_no_targets_and_sane_timing(tmp_path: Path) -> None:
    """No targets (nothing is kept or sent); timeouts and retries have defaults."""
    path = tmp_path / "config.toml"
    path.write_text(default_config_text(), "utf-8")
    settings = load_config(path).notify
    assert settings.targets == ()
    assert (settings.timeout_seconds, settings.max_attempts) == (5.0, 10)
    assert settings.backoff_initial_seconds <= settings.backoff_max_seconds


def test_webhooks_and_commands_are_read() -> None:
    """Every key of a target, defaults for the rest, a relative program against the config."""
    settings = notify(
        {
            "timeout_seconds": 2,
            "webhooks": [
                {
                    "url": "https://hooks.example.com/services/T/B/secret",
                    "format": "slack",
                    "events": ["model_approved", "review_needed"],
                    "secret_env": "GW_SECRET",
                },
                {"url": "http://127.0.0.1:9000/hook", "name": "local"},
                {"url": "https://b\u00fccher.example/hook", "name": "idn"},  # sent as IDNA
            ],
            "commands": [{"argv": ["./deploy.sh", "--now"], "events": ["champion_changed"]}],
        }
    ).notify
    slack, local, idn = settings.webhooks
    assert idn.destination == "https://b\u00fccher.example"
    assert slack.format == "slack"
    assert slack.events == ("model_approved", "review_needed")
    assert slack.destination == "https://hooks.example.com"  # the secret path is never shown
    assert slack.name.startswith("webhook-")
    assert (local.name, local.events, local.format) == ("local", EVENT_TYPES, "json")
    [command] = settings.commands
    assert command.argv == ("/etc/gw/deploy.sh", "--now")
    assert settings.timeout_seconds == 2.0


W = "notify.webhooks[0]"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"webhooks": [{"url": "ftp://x/y"}]}, f"{W}.url: is not an http(s) URL with a host"),
        ({"webhooks": [{"url": "https://"}]}, f"{W}.url: is not an http"),
        ({"webhooks": [{}]}, f"{W}.url: missing"),
        ({"webhooks": [{"url": "http://h:99999/x"}]}, f"{W}.url: is not an http"),
        ({"webhooks": [{"url": "http://h:-1/x"}]}, f"{W}.url: is not an http"),
        ({"webhooks": [{"url": "http://h:0/x"}]}, f"{W}.url: is not an http"),
        ({"webhooks": [{"url": "http://[::1/x"}]}, f"{W}.url: is not an http"),
        ({"webhooks": [{"url": "http://h/a\r\nX-Evil: 1"}]}, f"{W}.url: has spaces or control"),
        ({"webhooks": [{"url": "http://h /x"}]}, f"{W}.url: has spaces"),
        ({"webhooks": [{"url": "http://h/caf\u00e9"}]}, f"{W}.url: its path has characters beyond"),
        (
            {"webhooks": [{"url": "http://h/x?q=\u00e9"}]},
            f"{W}.url: its path has characters beyond",
        ),
        ({"webhooks": [{"url": "http://ann:pw@h/x"}]}, f"{W}.url: a user or password in the"),
        ({"webhooks": [{"url": "http://h", "name": "hook\n"}]}, f"{W}.name: 'hook\\n': use"),
        ({"webhooks": [{"url": "http://h", "secret_env": "S\n"}]}, f"{W}.secret_env: 'S\\n'"),
        (
            {"webhooks": [{"url": "http://h", "events": ["run_done"]}]},
            "notify.webhooks[0].events: 'run_done' is not one of",
        ),
        ({"webhooks": [{"url": "http://h", "events": []}]}, "notify.webhooks[0].events: expected"),
        ({"webhooks": [{"url": "http://h", "format": "xml"}]}, "notify.webhooks[0].format: 'xml'"),
        ({"webhooks": [{"url": "http://h", "secret_env": "A B"}]}, "notify.webhooks[0].secret_env"),
        (
            {"webhooks": [{"url": "http://h", "verb": "PUT"}]},
            "notify.webhooks[0].verb: unknown key",
        ),
        ({"webhooks": {"url": "http://h"}}, "notify.webhooks: expected an array of tables"),
        ({"commands": [{"argv": "deploy.sh"}]}, "notify.commands[0].argv: expected"),
        ({"commands": [{"argv": [""]}]}, "notify.commands[0].argv: the program is an empty"),
        ({"commands": [{"argv": ["x"], "events": ["nope"]}]}, "notify.commands[0].events: 'nope'"),
        ({"max_attempts": 0}, "notify.max_attempts: 0 must be positive"),
        ({"timeout_seconds": float("nan")}, "notify.timeout_seconds: nan must be positive"),
        ({"backoff_initial_seconds": float("nan")}, "notify.backoff_initial_seconds: nan must"),
        ({"timeout_seconds": 1e308}, "notify.timeout_seconds: 1e+308 must be positive, at most"),
        ({"timeout_seconds": 1e-300}, "notify.timeout_seconds: 1e-300 is too short to deliver"),
        ({"timeout_seconds": 0.09}, "notify.timeout_seconds: 0.09 is too short to deliver"),
        ({"max_age_seconds": float("inf")}, "notify.max_age_seconds: inf must be positive"),
        ({"max_attempts": 2.5}, "notify.max_attempts: expected an integer"),
        ({"timeout_seconds": "5"}, "notify.timeout_seconds: expected a number"),
        ({"backoff_initial_seconds": 10, "backoff_max_seconds": 5}, "notify.backoff_max_seconds"),
        ({"retries": 3}, "notify.retries: unknown key"),
        (
            {
                "webhooks": [{"url": "http://a", "name": "x"}],
                "commands": [{"argv": ["b"], "name": "x"}],
            },
            "notify.commands[0].name: 'x' is already another target's name",
        ),
    ],
)
def test_bad_notify_settings_name_the_key(table: dict[str, Any], message: str) -> None:
    """Each mistake is one ConfigError naming the key, never a URL's path (its secret)."""
    with pytest.raises(ConfigError) as caught:
        notify(table)
    assert str(caught.value).startswith(message)
    assert "/x" not in str(caught.value)


def test_config_show_round_trips_notify(tmp_path: Path) -> None:
    """config show's TOML loads back to the same [notify]."""
    config = notify({"webhooks": [{"url": "http://h/x", "secret_env": "S"}], "max_attempts": 3})
    path = tmp_path / "shown.toml"
    path.write_text(config_to_toml(config), "utf-8")
    assert load_config(path).notify == config.notify


def test_cli_exits_2_with_one_line_for_a_bad_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gatewatch config check: exit 2, one line on stderr naming the key, no traceback."""
    path = tmp_path / "config.toml"
    path.write_text('[[notify.webhooks]]\nurl = "file:///etc/passwd"\n', "utf-8")
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "notify.webhooks[0].url" in err


@pytest.mark.parametrize("command", [["config", "check"], ["run"]])
def test_an_unset_secret_env_is_named_before_anything_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """secret_env naming an unset variable: config check and run exit 2 with one line."""
    monkeypatch.delenv("GATEWATCH_TEST_UNSET_SECRET", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(
        '[archive]\ndir = "archive"\n[[notify.webhooks]]\nurl = "http://127.0.0.1:9/h"\n'
        'name = "desk"\nsecret_env = "GATEWATCH_TEST_UNSET_SECRET"\n',
        "utf-8",
    )
    assert main([*command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "gatewatch: notify: target desk: secret_env GATEWATCH_TEST_UNSET_SECRET is not set "
        "in the environment\n"
    )
    assert not (tmp_path / "archive").exists()  # nothing started
    monkeypatch.setenv("GATEWATCH_TEST_UNSET_SECRET", "k" * 32)
    assert main(["config", "check", "--config", str(path)]) == 0
