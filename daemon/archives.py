"""Opening the configured archive: the folder of [archive] dir, or the shared database of
[archive] url (the one place that chooses)."""

from __future__ import annotations

import threading

from daemon.config import Config
from daemon.errors import ConfigError
from gating import DISK, Disk, TrainingArchiveManager
from gating.archive.outbox import Outbox

__all__ = ["open_archive", "shared"]


def shared(config: Config) -> bool:
    """Whether the config names a shared (PostgreSQL) archive."""
    return bool(config.archive.url)


def open_archive(
    config: Config,
    *,
    disk: Disk = DISK,
    outbox: Outbox | None = None,
    cancelled: threading.Event | None = None,
    auto_compact: bool = True,
    lock_timeout: float = 30.0,
) -> TrainingArchiveManager:
    """The archive ``config`` names, gating with its [gating] rules.

    A shared archive whose schema is missing or of another version is refused with one
    line (ConfigError: exit 2): `gatewatch db upgrade` makes it, never a process by itself.
    """
    if not shared(config):
        return TrainingArchiveManager(
            config.archive.dir, config.gating, max_file_bytes=config.watch.max_file_bytes,
            disk=disk, outbox=outbox, cancelled=cancelled, auto_compact=auto_compact,
            lock_timeout=lock_timeout,
        )  # fmt: skip
    from gating.shared.archive import SharedArchive  # noqa: PLC0415 - psycopg, shared only
    from gating.shared.schema import SchemaError  # noqa: PLC0415

    try:
        return SharedArchive(
            config.archive.url, config.gating, archive_dir=config.archive.dir,
            max_file_bytes=config.watch.max_file_bytes, disk=disk,
        )  # fmt: skip
    except SchemaError as error:
        raise ConfigError(str(error)) from None
