"""[notify] in config.toml: webhook and command targets and the delivery timing, validated."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from daemon.errors import ConfigError
from daemon.notify.backoff import RetryPolicy
from daemon.notify.payloads import FORMATS
from gating.archive.disk import DISK, Disk
from gating.errors import shown
from gating.event_types import EVENT_TYPES

if TYPE_CHECKING:
    from gating.archive.outbox import Outbox

__all__ = ["NotifySettings", "Target", "notify_to_toml", "outbox_for", "parse_notify"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: no newline after
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


@dataclass(frozen=True, slots=True)
class Target:
    """One place events go: a webhook (``url``) or a command (``argv``)."""

    kind: str  # "webhook" | "command"
    name: str
    events: tuple[str, ...] = EVENT_TYPES
    url: str = ""
    format: str = "json"
    secret_env: str | None = None
    argv: tuple[str, ...] = ()

    def wants(self, event: Mapping[str, Any]) -> bool:
        """Whether this target takes events of this event's type."""
        return event.get("type") in self.events

    @property
    def destination(self) -> str:
        """Where it goes, safe to print: a URL's scheme, host and port only (a Slack URL's
        path is its secret), or the command's program."""
        if self.kind == "command":
            return self.argv[0]
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """[notify]: targets and how deliveries are timed and retried."""

    webhooks: tuple[Target, ...] = ()
    commands: tuple[Target, ...] = ()
    timeout_seconds: float = 5.0
    max_attempts: int = 10
    max_age_seconds: float = 86400.0
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target, webhooks first."""
        return (*self.webhooks, *self.commands)

    def comparable(self) -> dict[str, Any]:
        """The settings as ``key`` -> value to compare across a reload, safe to log.

        A target is its name, where it goes and a hash of the rest (a webhook URL's path
        may be its secret: a change to it shows as another hash, never the URL).
        """
        shown: dict[str, Any] = {
            key: getattr(self, key)
            for key in (
                "timeout_seconds",
                "max_attempts",
                "max_age_seconds",
                "backoff_initial_seconds",
                "backoff_max_seconds",
            )
        }
        shown["targets"] = [
            f"{t.name} -> {t.destination} #{_digest(repr(t), 12)}" for t in self.targets
        ]
        return shown

    def unset_secrets(self, environ: Mapping[str, str]) -> list[str]:
        """One line per webhook whose ``secret_env`` names a variable ``environ`` lacks."""
        return [
            f"notify: target {t.name}: secret_env {t.secret_env} is not set in the environment"
            for t in self.targets
            if t.secret_env and not environ.get(t.secret_env)
        ]

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            max_age_seconds=self.max_age_seconds,
            initial_seconds=self.backoff_initial_seconds,
            max_seconds=self.backoff_max_seconds,
        )


MAX_TIMING = 1e9  # seconds (31 years) or attempts: more overflows a timer or a socket
MIN_TIMEOUT = 0.1  # seconds: no webhook or command is done sooner (each attempt failed)
_TIMING: dict[str, type] = {
    "timeout_seconds": float,
    "max_attempts": int,
    "max_age_seconds": float,
    "backoff_initial_seconds": float,
    "backoff_max_seconds": float,
}


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    if "\x00" in value:  # no URL, program or argument holds one: it failed at each send
        raise ConfigError(f"{where}: {value!r} holds a NUL character")
    return value


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a non-empty list of strings, got {value!r}")
    for text in value:
        if "\x00" in text:
            raise ConfigError(f"{where}: {text!r} holds a NUL character")
    return tuple(value)


def _events(where: str, value: Any) -> tuple[str, ...]:
    events = _strings(where, value)
    for name in events:
        if name not in EVENT_TYPES:
            raise ConfigError(f"{where}: {name!r} is not one of {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(events))


def _name(where: str, table: Mapping[str, Any], kind: str, identity: str) -> str:
    if "name" in table:
        name = _string(f"{where}.name", table["name"])
        if not _TARGET_NAME.match(name):
            raise ConfigError(
                f"{where}.name: {name!r}: use letters, digits, '.', '_' and '-' (at most 100)"
            )
        return name
    return f"{kind}-{_digest(identity, 8)}"


def _table(where: str, table: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key")
    return table


def _webhook(where: str, raw: Any) -> Target:
    table = _table(where, raw, ("name", "url", "events", "format", "secret_env"))
    if "url" not in table:
        raise ConfigError(f"{where}.url: missing")
    url = _string(f"{where}.url", table["url"])
    # Never quoted back: a Slack URL's path is its secret, and errors reach the logs.
    if any(c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise ConfigError(f"{where}.url: has spaces or control characters")
    try:
        parts = urlsplit(url)  # ValueError for a bracket left open: http://[::1/x
        port = parts.port  # ValueError past 65535 or when not a number
    except ValueError:
        parts, port = urlsplit(""), 0
    if not (parts.path + parts.query).isascii():  # a host is sent as IDNA: bücher.example
        raise ConfigError(
            f"{where}.url: its path has characters beyond ASCII (percent-encode them)"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ConfigError(f"{where}.url: is not an http(s) URL with a host and a valid port")
    if "@" in parts.netloc:
        raise ConfigError(
            f"{where}.url: a user or password in the URL is never sent (use secret_env to "
            "sign events, or a token in the path)"
        )
    fmt = _string(f"{where}.format", table.get("format", "json"))
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    secret_env = None
    if "secret_env" in table:
        secret_env = _string(f"{where}.secret_env", table["secret_env"])
        if not _ENV_NAME.match(secret_env):
            raise ConfigError(f"{where}.secret_env: {secret_env!r} is not a variable name")
    events = _events(f"{where}.events", table["events"]) if "events" in table else EVENT_TYPES
    return Target(
        "webhook",
        _name(where, table, "webhook", url),
        events,
        url=url,
        format=fmt,
        secret_env=secret_env,
    )


def _command(where: str, raw: Any, base: Path) -> Target:
    table = _table(where, raw, ("name", "argv", "events"))
    if "argv" not in table:
        raise ConfigError(f"{where}.argv: missing")
    argv = _strings(f"{where}.argv", table["argv"])
    if not argv[0]:
        raise ConfigError(f"{where}.argv: the program is an empty string")
    if "/" in argv[0] and not argv[0].startswith("/"):
        # A relative program path is relative to the config file, like every path in it.
        argv = (str(base / argv[0]), *argv[1:])
    events = _events(f"{where}.events", table["events"]) if "events" in table else EVENT_TYPES
    return Target("command", _name(where, table, "command", json.dumps(argv)), events, argv=argv)


def parse_notify(table: Mapping[str, Any], base: Path) -> NotifySettings:
    """Validate the [notify] table; ConfigError names the key at fault.

    A command's program given as a relative path (``./deploy.sh``) resolves against
    ``base`` (the config file's folder); a bare name is looked up in PATH.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"notify.{key}"
        if key in ("webhooks", "commands"):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: expected an array of tables ([[{where}]])")
            values[key] = tuple(
                _webhook(f"{where}[{i}]", item)
                if key == "webhooks"
                else _command(f"{where}[{i}]", item, base)
                for i, item in enumerate(value)
            )
        elif key in _TIMING:
            kind = _TIMING[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}: expected a number, got {value!r}")
            if kind is int and not isinstance(value, int):
                raise ConfigError(f"{where}: expected an integer, got {value!r}")
            if not 0 < value <= MAX_TIMING:  # NaN too: it failed every event later
                said = shown(value)
                raise ConfigError(f"{where}: {said} must be positive, at most {MAX_TIMING:g}")
            if key == "timeout_seconds" and value < MIN_TIMEOUT:
                raise ConfigError(
                    f"{where}: {shown(value)} is too short to deliver anything "
                    f"(at least {MIN_TIMEOUT:g} s)"
                )
            values[key] = kind(value)
        else:
            raise ConfigError(f"{where}: unknown key")
    settings = NotifySettings(**values)
    if settings.backoff_max_seconds < settings.backoff_initial_seconds:
        raise ConfigError(
            f"notify.backoff_max_seconds: {settings.backoff_max_seconds!r} is less than "
            f"backoff_initial_seconds ({settings.backoff_initial_seconds!r})"
        )
    seen: set[str] = set()
    for key in ("webhooks", "commands"):
        for i, target in enumerate(getattr(settings, key)):
            if target.name in seen:
                raise ConfigError(
                    f"notify.{key}[{i}].name: {target.name!r} is already another target's name"
                )
            seen.add(target.name)
    return settings


def notify_to_toml(settings: NotifySettings) -> dict[str, Any]:
    """[notify] as a TOML-ready dict (names included, an unset secret_env left out)."""
    document: dict[str, Any] = {key: getattr(settings, key) for key in _TIMING}
    document["webhooks"] = [
        {
            "name": t.name,
            "url": t.url,
            "events": list(t.events),
            "format": t.format,
            **({"secret_env": t.secret_env} if t.secret_env else {}),
        }
        for t in settings.webhooks
    ]
    document["commands"] = [
        {"name": t.name, "argv": list(t.argv), "events": list(t.events)} for t in settings.commands
    ]
    return document


def outbox_for(archive_dir: Path, settings: NotifySettings, disk: Disk = DISK) -> Outbox | None:
    """The outbox of the archive at ``archive_dir`` when [notify] has targets (else None:
    no events are kept); the archive is built with it."""
    from gating.archive.outbox import OUTBOX_DIR, Outbox  # noqa: PLC0415 - writers only

    if not settings.targets:
        return None
    return Outbox(archive_dir / OUTBOX_DIR, disk=disk)


def _digest(text: str, length: int) -> str:
    """The first ``length`` hex digits of the sha256 of ``text``."""
    import hashlib  # noqa: PLC0415 - OpenSSL loads in 4 ms: only where targets are named

    return hashlib.sha256(text.encode()).hexdigest()[:length]
