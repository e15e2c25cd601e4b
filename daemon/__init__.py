"""gatewatch's service shell: config, watcher, scheduler, logging and the command line."""

from __future__ import annotations

__all__: list[str] = []
