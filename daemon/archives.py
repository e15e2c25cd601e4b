"""Opening the configured archive: the folder of [archive] dir, or the shared database of
[archive] url (the one place that chooses)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daemon.config import Config
from daemon.errors import ConfigError
from gating.archive.disk import DISK, Disk
from gating.archive.manager import TrainingArchiveManager
from gating.errors import ArchiveError
from gating.progress import Progress

if TYPE_CHECKING:
    from daemon.notify.sender import Sender
    from gating.archive.outbox import Outbox

__all__ = [
    "database_of",
    "deliveries_of",
    "open_archive",
    "sender_for",
    "services_of",
    "services_or_why",
    "shared",
    "write_problem",
]


def shared(config: Config) -> bool:
    """Whether the config names a shared (PostgreSQL) archive."""
    return bool(config.archive.url)


def database_of(config: Config) -> dict[str, str]:
    """In shared mode, the database the archive is, for a log line (host:port/name, never
    the user); else nothing."""
    if not config.archive.url:
        return {}
    from gating.shared.database import shown_url  # noqa: PLC0415 - shared mode only

    return {"database": shown_url(config.archive.url)}


def open_archive(
    config: Config,
    *,
    disk: Disk = DISK,
    outbox: Outbox | None = None,
    cancelled: threading.Event | None = None,
    auto_compact: bool = True,
    lock_timeout: float = 30.0,
    rebuilding: Progress | None = None,
    rebuild_wait: float | None = None,
    retry_seconds: float | None = None,
) -> TrainingArchiveManager:
    """The archive ``config`` names, gating with its [gating] rules; ``rebuilding`` follows
    a rebuild of a folder archive's catalog that no caller follows (a shared archive has none),
    and ``rebuild_wait`` has a query wait that long for it on a thread of its own;
    ``retry_seconds``: how long a shared archive's transaction is retried while
    PostgreSQL is away (default a minute: a dashboard answers sooner).

    A shared archive whose schema is missing or of another version is refused with one
    line (ConfigError: exit 2): `gatewatch db upgrade` makes it, never a process by itself.
    """
    if not shared(config):
        return TrainingArchiveManager(
            config.archive.dir, config.gating, max_file_bytes=config.watch.max_file_bytes,
            disk=disk, outbox=outbox, cancelled=cancelled, auto_compact=auto_compact,
            lock_timeout=lock_timeout, rebuilding=rebuilding, rebuild_wait=rebuild_wait,
        )  # fmt: skip
    from gating.shared.archive import SharedArchive  # noqa: PLC0415 - psycopg, shared only
    from gating.shared.schema import SchemaError  # noqa: PLC0415

    try:
        return SharedArchive(
            config.archive.url, config.gating, archive_dir=config.archive.dir,
            max_file_bytes=config.watch.max_file_bytes, disk=disk, retry_seconds=retry_seconds,
        )  # fmt: skip
    except SchemaError as error:
        raise ConfigError(str(error)) from None


def write_problem(manager: TrainingArchiveManager) -> str | None:
    """Why a shared archive's database role cannot archive, or None (and None for a
    folder archive, whose writes say so themselves)."""
    from gating.shared.archive import SharedArchive  # noqa: PLC0415 - shared mode only

    return manager.write_problem() if isinstance(manager, SharedArchive) else None


def _database(manager: TrainingArchiveManager) -> Any:
    from gating.shared.archive import SharedArchive  # noqa: PLC0415 - shared mode only

    assert isinstance(manager, SharedArchive)
    return manager.database


def sender_for(
    config: Config,
    manager: TrainingArchiveManager,
    outbox: Outbox | None,
    log: Any,
    disk: Disk = DISK,
) -> Sender | None:
    """The service's notification sender when [notify] has targets: over the folder's
    outbox, or, in shared mode, over the database's (a lease per target). It passes
    ``disk``'s named steps (``notify:delivered``: sent, the cursor not yet past it)."""
    from daemon.notify.sender import Sender  # noqa: PLC0415 - only the service sends

    if not config.notify.targets:
        return None
    if not shared(config):
        return None if outbox is None else Sender(outbox, config.notify, log, on_step=disk.step)
    from daemon.notify.shared_sender import SharedEvents, SharedTargetSender  # noqa: PLC0415

    events = SharedEvents(_database(manager))
    return Sender(events, config.notify, log, kind=SharedTargetSender, on_step=disk.step)


def deliveries_of(config: Config, manager: TrainingArchiveManager) -> Any:
    """What `notify status` and /metrics count: the folder's outbox or the database's."""
    if not shared(config):
        from gating.archive.outbox import OUTBOX_DIR, Outbox  # noqa: PLC0415 - writers only

        return Outbox(config.archive.dir / OUTBOX_DIR)
    from daemon.notify.shared_sender import SharedEvents  # noqa: PLC0415

    return SharedEvents(_database(manager))


def services_of(manager: TrainingArchiveManager) -> list[dict[str, object]] | None:
    """The services heartbeating into a shared archive's database (None for a folder)."""
    services = getattr(manager, "services", None)
    return None if services is None else list(services())


def services_or_why(
    manager: Callable[[], TrainingArchiveManager],
) -> tuple[list[dict[str, object]] | None, str | None]:
    """services_of the archive ``manager()`` opens, or why they cannot be listed now (the
    database away: `status` and /health say so, and the health is at best failing)."""
    try:
        return services_of(manager()), None
    except ArchiveError as error:
        return None, f"the services cannot be listed: {error}"
