"""Loading, validating and printing config.toml as frozen dataclasses."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError
from daemon.notify.settings import MAX_TIMING, NotifySettings, notify_to_toml, parse_notify
from gating.archive.durable import read_regular
from gating.errors import GatingConfigError, did_you_mean, shown
from gating.thresholds import DEFAULT_MAX_BYTES, ModelGatingConfig

__all__ = [
    "ArchiveSettings",
    "Config",
    "LoggingSettings",
    "ScheduleSettings",
    "ServeSettings",
    "WatchSettings",
    "config_changes",
    "config_path",
    "config_to_toml",
    "default_config_text",
    "load_config",
]

ENV_VAR = "GATEWATCH_CONFIG"
OBSERVERS = ("auto", "native", "polling")
LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_REINDEX_CRON = "0 3 * * *"

_CONFIG_MAX_BYTES = 1 << 20  # a config file is a page of TOML: a megabyte is not one
_LARGEST_INT = 2**63 - 1  # no setting is larger (an int of 400 digits broke float() and os.read)
MAX_FILE_BYTES = 1 << 40  # watch.max_file_bytes at most (1 TiB: the default is 16 MiB)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """[watch]: which folders and files to watch and when a file is complete."""

    paths: tuple[Path, ...] = (Path("training_output"),)
    include: tuple[str, ...] = ("*summary*.json",)
    exclude: tuple[str, ...] = (".*", "*.tmp", "*.part", "*~")
    recursive: bool = True
    observer: str = "auto"
    settle_seconds: float = 1.0
    max_file_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """[archive]: where runs are archived: the folder ``dir``, or, with ``url``, a PostgreSQL
    database that several hosts share (``dir`` then keeps this host's status and lock)."""

    dir: Path = Path("training_archives")
    url: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """[schedule]: periodic rescan, compaction and the nightly reindex."""

    rescan_seconds: float = 60.0
    compact_seconds: float = 600.0
    reindex_cron: str = DEFAULT_REINDEX_CRON


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """[logging]: log format and level."""

    format: str = "auto"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """[serve]: where the dashboard listens, and the variables that hold its tokens (the
    reviewers' write token; the token that may submit runs with POST /api/runs)."""

    host: str = "127.0.0.1"
    port: int = 8470
    token_env: str = ""
    submit_token_env: str = ""
    public_url: str = ""  # where browsers reach it through a reverse proxy, if they do


@dataclass(frozen=True, slots=True)
class Config:
    """The whole effective configuration; ``source`` is the file it came from, if any."""

    watch: WatchSettings = field(default_factory=WatchSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    gating: ModelGatingConfig = field(default_factory=ModelGatingConfig)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)  # notify (issue 14)
    serve: ServeSettings = field(default_factory=ServeSettings)
    source: Path | None = None


def config_path(explicit: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """The config file to use and whether it must exist (named, not the fallback)."""
    if explicit is not None:
        return Path(explicit), True
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), True
    return Path("config.toml"), False


def _type_name(kind: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        kind, "a list of strings"
    )


def _value(section: str, key: str, value: Any, default: Any) -> Any:
    """Check one value against the type of its default; return it in the default's type."""
    where = f"{section}.{key}"
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        for text in value:
            _no_nul(where, text)
        return tuple(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):  # true is an int to Python, not to a person
        kind = int | float if isinstance(default, float) else int
        ok = isinstance(value, kind) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{where}: expected {_type_name(type(default))}, got {value!r}")
    if isinstance(value, str):
        _no_nul(where, value)
    if isinstance(value, int) and not -_LARGEST_INT <= value <= _LARGEST_INT:
        raise ConfigError(f"{where}: {shown(value)} is out of range")
    return float(value) if isinstance(default, float) else value


def _no_nul(where: str, text: str) -> None:
    """A NUL character cannot be in a path, a pattern or a URL the system is given."""
    if "\x00" in text:
        raise ConfigError(f"{where}: {text!r} holds a NUL character")


def _unknown_key(section: str, key: str, names: Collection[str]) -> str:
    """The line for a key ``section`` does not have: the section it belongs in, else the
    key of this section it is closest to (a name of four letters or fewer, such as ``uri``
    for ``url``, at difflib's lower cutoff: one letter off is a third of it)."""
    sections = {**_SECTIONS, "gating": ModelGatingConfig}
    home = [
        name
        for name, cls in sections.items()
        if name != section and key in {f.name for f in dataclasses.fields(cls)}
    ]
    if home:
        return f"{section}.{key}: unknown key (it belongs in [{home[0]}])"
    cutoff = 0.6 if len(key) <= 4 else 0.75
    return f"{section}.{key}: unknown key{did_you_mean(key, names, cutoff)}"


def _section(cls: Any, section: str, table: Mapping[str, Any], base: Path) -> Any:
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in names:
            raise ConfigError(_unknown_key(section, key, names))
        default = getattr(defaults, key)
        if isinstance(default, Path):
            if not (text := _value(section, key, raw, "")):
                raise ConfigError(f"{section}.{key}: must name a folder, not be empty")
            values[key] = Path(text)
        elif key == "paths":
            paths = _value(section, key, raw, ())
            if "" in paths:
                raise ConfigError(f"{section}.{key}: each must name a folder, not be empty")
            values[key] = tuple(Path(p) for p in paths)
        else:
            values[key] = _value(section, key, raw, default)
    return cls(**values)


def _resolve(config: Config, base: Path) -> Config:
    """Every path field, given or default, resolved against ``base`` (the one place)."""
    return dataclasses.replace(
        config,
        watch=dataclasses.replace(
            config.watch, paths=tuple(base / path for path in config.watch.paths)
        ),
        archive=dataclasses.replace(config.archive, dir=base / config.archive.dir),
    )


def _check_seconds(where: str, value: float) -> None:
    """A number of seconds must be positive and at most MAX_TIMING (inf or NaN break a
    timer), as [notify]'s timings must."""
    if not 0 < value <= MAX_TIMING:
        raise ConfigError(f"{where}: {value!r} must be positive, at most {MAX_TIMING:g}")


def _check(config: Config) -> None:
    w, s, lg = config.watch, config.schedule, config.logging
    if w.observer not in OBSERVERS:
        raise ConfigError(f"watch.observer: {w.observer!r} is not one of {', '.join(OBSERVERS)}")
    if not w.paths:
        raise ConfigError("watch.paths: at least one folder is needed")
    if not w.include:
        raise ConfigError("watch.include: at least one pattern is needed")
    _check_seconds("watch.settle_seconds", w.settle_seconds)  # NaN: a file never settles
    if not 0 < w.max_file_bytes <= MAX_FILE_BYTES:
        raise ConfigError(
            f"watch.max_file_bytes: {w.max_file_bytes!r} must be positive, at most 1 TiB"
        )
    for key in ("rescan_seconds", "compact_seconds"):
        _check_seconds(f"schedule.{key}", getattr(s, key))
    if s.reindex_cron != DEFAULT_REINDEX_CRON:  # the default is known to be valid
        from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415 - 35 ms to import

        try:
            CronTrigger.from_crontab(s.reindex_cron, timezone="UTC")
        except ValueError as error:
            raise ConfigError(f"schedule.reindex_cron: {s.reindex_cron!r}: {error}") from None
    if lg.format not in LOG_FORMATS:
        raise ConfigError(f"logging.format: {lg.format!r} is not one of {', '.join(LOG_FORMATS)}")
    if lg.level.lower() not in LOG_LEVELS:
        raise ConfigError(f"logging.level: {lg.level!r} is not one of {', '.join(LOG_LEVELS)}")
    if not 0 <= config.serve.port <= 65535:
        raise ConfigError(f"serve.port: {config.serve.port!r} is not a port number (0-65535)")
    if config.serve.public_url:
        from daemon.web.security import public_origin  # noqa: PLC0415 - the dashboard's

        try:
            public_origin(config.serve.public_url)
        except ValueError as error:
            raise ConfigError(f"serve.public_url: {config.serve.public_url!r}: {error}") from None
    if config.archive.url:
        from gating.shared.database import check_url  # noqa: PLC0415 - shared mode only

        try:
            check_url(config.archive.url)
        except GatingConfigError as error:
            raise ConfigError(str(error)) from None


_SECTIONS: dict[str, Any] = {
    "watch": WatchSettings,
    "archive": ArchiveSettings,
    "schedule": ScheduleSettings,
    "logging": LoggingSettings,
    "serve": ServeSettings,
}


def parse_config(document: Mapping[str, Any], base: Path, source: Path | None = None) -> Config:
    """Validate a parsed TOML document; relative paths resolve against ``base``."""
    sections: dict[str, Any] = {}
    for name, table in document.items():
        if name not in (known := (*_SECTIONS, "gating", "notify")):
            raise ConfigError(f"{name}: unknown section{did_you_mean(name, known, 0.6)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a table")
        if name == "gating":
            try:
                sections[name] = ModelGatingConfig.from_mapping(table)
            except GatingConfigError as error:
                raise ConfigError(f"gating.{error}") from None
        elif name == "notify":  # notify (issue 14): its own parser (arrays of tables)
            sections[name] = parse_notify(table, base)
        else:
            sections[name] = _section(_SECTIONS[name], name, table, base)
    config = _resolve(Config(**sections, source=source), base)
    _check(config)
    return config


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    required: bool = False,
    empty_ok: bool = True,
    only: Collection[str] | None = None,
) -> Config:
    """Load the effective config: --config, else $GATEWATCH_CONFIG, else ./config.toml
    (the defaults when that is missing, unless ``required``: a reload of one that was
    there). Without ``empty_ok`` a file holding nothing but blanks is refused: a reload
    between an editor's truncating and writing it set every threshold to its default.
    ``only``: those sections are read, the rest left at their defaults (`status` finds
    the archive while a mistake elsewhere in the file waits for a fix)."""
    path, named = config_path(explicit)
    required = required or named
    try:
        # Never a FIFO (a reload would hang the service) nor a device (/dev/zero would fill
        # the memory); a symlink the operator made is followed.
        data = read_regular(os.path.realpath(path), _CONFIG_MAX_BYTES)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: config file not found") from None
        return parse_config({}, Path.cwd())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")  # past a byte-order mark, as some editors write one
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8") from None
    if not empty_ok and not text.strip():
        raise ConfigError(f"{path}: the file is empty (being saved?)")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except ValueError:  # an integer of over 4,300 digits, which int() refuses to read
        raise ConfigError(f"{path}: invalid TOML: a number too long to read") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    if only is not None:
        document = {name: table for name, table in document.items() if name in only}
    try:
        return parse_config(document, path.resolve().parent, path.resolve())
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply") from None


def _flat(config: Config) -> dict[str, Any]:
    """Every setting as ``section.key`` -> value (paths as strings)."""
    flat: dict[str, Any] = {}
    for name in ("watch", "archive", "gating", "schedule", "logging", "notify", "serve"):
        section = getattr(config, name)
        # [gating] with its [gating.champion] subtable (gating.champion.fitness, ...);
        # [notify] without its secrets.
        table = (
            section.as_table()
            if name == "gating"
            else config.notify.comparable()
            if name == "notify"
            else dataclasses.asdict(section)
        )
        pending = [(name, table)]
        while pending:
            prefix, items = pending.pop()
            for key, value in items.items():
                if isinstance(value, dict):
                    pending.append((f"{prefix}.{key}", value))
                    continue
                flat[f"{prefix}.{key}"] = (
                    [str(v) for v in value]
                    if isinstance(value, tuple | list)
                    else str(value)
                    if isinstance(value, Path)
                    else value
                )
    return flat


def config_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """The settings that differ, as ``section.key`` -> (old value, new value)."""
    before, after = _flat(old), _flat(new)
    keys = sorted(before.keys() | after.keys())  # a [gating.champion] key may come or go
    return {
        key: (before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)
    }


def config_to_toml(config: Config) -> str:
    """The effective config as TOML, absolute paths included."""
    document: dict[str, Any] = {}
    for name in ("watch", "archive", "gating", "schedule", "logging", "serve"):
        section = getattr(config, name)
        # [gating] with its [gating.champion] subtable when there is one (issue 13).
        table = section.as_table() if name == "gating" else dataclasses.asdict(section)
        document[name] = {
            key: (
                str(value)
                if isinstance(value, Path)
                else [str(v) for v in value]
                if isinstance(value, tuple | list)
                else value
            )
            for key, value in table.items()
        }
    document["notify"] = notify_to_toml(config.notify)  # notify (issue 14)
    import tomli_w  # noqa: PLC0415 - only config show writes TOML

    return tomli_w.dumps(document)


def default_config_text() -> str:
    """The commented default config.toml shipped with the package."""
    return (Path(__file__).with_name("default_config.toml")).read_text("utf-8")
