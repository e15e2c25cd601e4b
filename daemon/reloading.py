"""SIGHUP: the config read again (`run` and `serve`), its [gating] applied, the rest told."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from daemon.config import Config, config_changes, load_config
from daemon.errors import ConfigError
from gating import TrainingArchiveManager

__all__ = ["ConfigReader", "ThresholdReloader", "apply_gating"]


def apply_gating(
    manager: TrainingArchiveManager, running: Config, fresh: Config, log: Any
) -> Config:
    """Give ``manager`` the [gating] of ``fresh`` and log `config_reloaded`: every key
    changed, and as ``not_applied`` (a warning) those outside [gating], which wait for a
    restart. Returns the config now in force."""
    changes = config_changes(running, fresh)
    not_applied = sorted(key for key in changes if not key.startswith("gating."))
    manager.config = fresh.gating
    fields: dict[str, Any] = {
        "changed": {key: list(values) for key, values in changes.items()},
        "not_applied": not_applied,
    }
    if not_applied:
        fields["action"] = "restart the service to apply not_applied"
    (log.warning if not_applied else log.info)("config_reloaded", **fields)
    return dataclasses.replace(running, gating=fresh.gating)


class ConfigReader:
    """The config file read again at each reload. One read once is required from then on
    (removed, it is an error, not the defaults' looser thresholds), and an empty one is
    refused (an editor between truncating and writing it)."""

    def __init__(
        self,
        config_arg: str | None,
        running: Config,
        log: Any,
        told: Callable[[str | None], None] | None = None,
    ) -> None:
        self.config_arg = config_arg
        self.log = log
        self.told = told  # also told why a reload failed, or None once one succeeded
        self._had_file = running.source is not None

    def read(self) -> Config | None:
        """The config as the file says now, or None, `config_reload_failed` logged."""
        try:
            fresh = load_config(self.config_arg, required=self._had_file, empty_ok=False)
        except (ConfigError, OSError) as error:  # OSError: the current folder removed, say
            self.log.error("config_reload_failed", error=str(error), kept="previous thresholds")
            if self.told is not None:
                self.told(str(error))
            return None
        self._had_file = self._had_file or fresh.source is not None
        if self.told is not None:
            self.told(None)
        return fresh


class ThresholdReloader:
    """`serve`'s reload: each time ``asked`` is set (by SIGHUP, through SignalEvents) a
    thread of its own reads the config and gives the archive its [gating], logged as
    `run` logs it; a burst of requests is one reload, of the file as it is then. Without
    it a run sent with POST /api/runs was gated by the thresholds `serve` started with,
    while `run` gated the same summary by the reloaded ones."""

    def __init__(self, running: Config, reader: ConfigReader) -> None:
        self.running = running
        self.reader = reader

    def start(self, manager: TrainingArchiveManager, asked: threading.Event) -> None:
        """Reload into ``manager``'s thresholds whenever ``asked`` (also if it is already)."""
        thread = threading.Thread(
            target=self._serve, args=(manager, asked), name="gatewatch-reload"
        )
        thread.daemon = True
        thread.start()

    def _serve(self, manager: TrainingArchiveManager, asked: threading.Event) -> None:
        while True:
            asked.wait()
            asked.clear()
            self.reload(manager)

    def reload(self, manager: TrainingArchiveManager) -> None:
        """Read the config and apply its [gating] (unless it cannot be read)."""
        fresh = self.reader.read()
        if fresh is not None:
            self.running = apply_gating(manager, self.running, fresh, self.reader.log)
