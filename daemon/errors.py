"""The service's exceptions: one root, each also the built-in it resembles."""

from __future__ import annotations

__all__ = ["AlreadyRunningError", "ConfigError", "DaemonError"]


class DaemonError(Exception):
    """Root of every error the service raises on purpose."""


class ConfigError(DaemonError, ValueError):
    """The config file is missing, unreadable or invalid; the message names the key."""


class AlreadyRunningError(DaemonError, RuntimeError):
    """Another gatewatch service already runs on the same archive."""
