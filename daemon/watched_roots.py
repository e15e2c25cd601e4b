"""The watched folders coming and going: warned about while missing, watched once there."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from daemon.config_paths import why_not_watched
from daemon.watcher import Watcher

__all__ = ["POLL_SECONDS", "WATCHES_SYSCTL", "WatchedRoots"]

POLL_SECONDS = 5.0  # how often folders inotify cannot watch are scanned
WATCHES_SYSCTL = "fs.inotify.max_user_watches"


class WatchedRoots:
    """The configured folders the watcher watches, and those missing (the service's thread
    looks after them; ``scan`` hands a folder that appeared to the worker)."""

    def __init__(self, watcher: Watcher, log: Any, scan: Callable[[Path], None]) -> None:
        self.watcher = watcher
        self.log = log
        self.scan = scan
        self.missing: set[Path] = set()
        self._limit_logged = False

    def start(self, paths: Iterable[Path], missing: Iterable[Path]) -> None:
        """Watch each folder not ``missing`` (warned about, as is one gone meanwhile), say
        what is watched how, and warn once when the watch limit was reached."""
        self.missing = set(missing)
        self.warn_missing()
        paths = list(paths)
        for root in paths:
            # Before the scan, so nothing slips between the two; one gone meanwhile is missing.
            if root not in self.missing and not self.watcher.add(root):
                self.missing.add(root)
                self._warn_missing_path(root)
        self.log.info(
            "watching",
            observers={str(root): kind for root, kind in self.watcher.kinds.items()},
            **self._resolved(self.watcher.kinds),
        )
        self.check_watch_limit()

    def look(self) -> None:
        """Folders removed or moved away are missing again; missing ones there now are
        watched and scanned; folders made since past the watch limit are warned about."""
        for path in self.watcher.gone():
            self.missing.add(path)
            self._warn_missing_path(path)
        for path in sorted(self.missing):
            if os.path.isdir(path) and self.watcher.add(path):  # gone again meanwhile: next time
                self.missing.discard(path)
                self.scan(path)
                self.log.info("watch_path_appeared", path=str(path), **self._resolved([path]))
        self.check_watch_limit()

    def warn_missing(self) -> None:
        """Warn about every missing folder again (at each rescan)."""
        for path in sorted(self.missing):
            self._warn_missing_path(path)

    def check_watch_limit(self) -> None:
        """Warn once that folders past inotify's watch limit are polled instead."""
        unwatched = self.watcher.unwatched_folders
        if unwatched and not self._limit_logged:
            self._limit_logged = True
            self.log.warning(
                "watch_limit_reached",
                unwatched_folders=unwatched,
                sysctl=WATCHES_SYSCTL,
                action=f"polling them at most every {POLL_SECONDS:g} s; raise {WATCHES_SYSCTL}",
            )

    def _warn_missing_path(self, path: Path) -> None:
        """One watched path missing: nothing there, or something that is not a folder."""
        reason = why_not_watched(path)
        action = {
            "does not exist": "watching it when it appears",
            "not a folder": "watching it when a folder replaces it",
            "replaced by another folder": "watching the new folder",
        }.get(reason, "watching it once it can be reached")  # "cannot be reached (...)"
        self.log.warning("watch_path_missing", path=str(path), reason=reason, action=action)

    def _resolved(self, roots: Iterable[Path]) -> dict[str, dict[str, str]]:
        """``resolved``: the folder each watched symlink points to (watched there), if any."""
        found = {
            str(root): str(real)
            for root in roots
            if (real := self.watcher.resolved.get(root, root)) != root
        }
        return {"resolved": found} if found else {}
