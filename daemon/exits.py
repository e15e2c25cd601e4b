"""The exit statuses of every `gatewatch` command, in one place."""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_NOT_RUNNING", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0  # success (status: the service is healthy)
EXIT_FAILED = 1  # a file, a run or a delivery failed (status: stale or unhealthy)
EXIT_USAGE = 2  # bad usage or bad config
EXIT_NOT_RUNNING = 3  # status: the service is not running
