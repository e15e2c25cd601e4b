"""The service's exceptions: one root, each also the built-in it resembles."""

from __future__ import annotations

__all__ = [
    "AlreadyRunningError",
    "ConfigError",
    "DaemonError",
    "DocumentError",
    "Failed",
    "Refused",
    "Terminated",
]


class DaemonError(Exception):
    """Root of every error the service raises on purpose."""


class ConfigError(DaemonError, ValueError):
    """The config file is missing, unreadable or invalid; the message names the key."""


class AlreadyRunningError(DaemonError, RuntimeError):
    """Another gatewatch service already runs on the same archive."""


class DocumentError(DaemonError, ValueError):
    """A query option is invalid (e.g. ``last`` is not a positive integer)."""


class Refused(DaemonError, ValueError):
    """A command that must not run as it was asked (exit status 2)."""


class Terminated(KeyboardInterrupt):
    """A one-shot command was sent SIGTERM: it unwinds as for Ctrl-C (its worker
    processes stopped, its staging removed), then exits 143. Not a DaemonError, nor an
    Exception: no ``except Exception`` on the way may swallow it."""


class Failed(DaemonError, RuntimeError):
    """A command finished but something it handled failed (exit status 1)."""
