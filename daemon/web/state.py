"""The dashboard's shared state: what every request handler needs, and where it lives."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import jinja2
import markupsafe
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from daemon import documents, status
from daemon.archives import services_or_why
from daemon.notify.settings import Target
from daemon.text import visible
from daemon.web.security import LoginThrottle, SessionRevocations
from gating import TrainingArchiveManager
from gating.archive.outbox import OUTBOX_DIR, Outbox

__all__ = [
    "HISTORY_PAGE",
    "WRITERS",
    "WRITES_WAITING",
    "WRITE_WAIT_SECONDS",
    "WebState",
    "state_of",
    "templates",
]

HISTORY_PAGE = 50  # runs a symbol page shows at first
WRITE_WAIT_SECONDS = 5.0  # how long a decision waits for the archive's writer lock
WRITERS = 4  # threads that may write at once (runs sent, decisions): the lock serializes them
WRITES_WAITING = 8  # writes that may wait for one (each waits 5 s for the lock at most, so
# the last answers within 15 s, before a sender times out); then a 503 (a sender spools)

_T = TypeVar("_T")
Services = list[dict[str, object]] | None  # a shared archive's, as services_of lists them


@dataclass
class WebState:
    """What every request handler needs: the archive, the token, the templates."""

    manager: TrainingArchiveManager
    token: str | None
    templates: Jinja2Templates
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Sessions are signed with the token and this process's salt: a restart signs every
    # session out, so a revocation (kept in memory) never has to outlive the process.
    session_salt: str = field(default_factory=lambda: secrets.token_hex(16))
    revoked: SessionRevocations = field(default_factory=SessionRevocations)
    targets: tuple[Target, ...] = ()  # [notify]'s, for /metrics' delivery counts
    submit_token: str | None = None  # allows POST /api/runs (a sender's, not a reviewer's)
    public: str | None = None  # the origin browsers reach it at ([serve] public_url), if set
    outbox: Any = None  # what deliveries() counts (the folder's outbox when None)
    # The sha256s kept as rejected: read from the archive at the first run rejected (as
    # the service reads them at its start), then this process's rejections added. It began
    # empty: bytes rejected by the service, or before a restart, were kept again.
    rejected: set[str] = field(init=False)
    # Writes wait for the writer lock on threads of their own: 120 runs sent while another
    # process held it took every thread of the pool, and a page waited 14 s behind them.
    writes: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(WRITERS))
    # Runs sent that were let in: reading their body, waiting for a writer or writing. The
    # writes alone were counted, so 100 senders whose bodies came slowly all got past the
    # check before any waited: 125 s for the last answer, and up to 100 bodies in memory.
    submissions: int = 0

    def writes_full(self) -> bool:
        """Whether WRITES_WAITING writes already wait for a thread (a new one: 503)."""
        return self.writes.statistics().tasks_waiting >= WRITES_WAITING

    def __post_init__(self) -> None:
        from daemon.intake import KeptRejections  # noqa: PLC0415 - only submissions archive

        self.rejected = KeptRejections(self.manager.writer.rejected_keys)

    def admit_submission(self) -> bool:
        """Let a run sent in, unless WRITERS + WRITES_WAITING are in already (its caller
        calls ``release_submission`` once it has answered)."""
        if self.submissions >= WRITERS + WRITES_WAITING or self.writes_full():
            return False
        self.submissions += 1  # the event loop's thread alone counts: no lock needed
        return True

    def release_submission(self) -> None:
        """A run let in by ``admit_submission`` has been answered."""
        self.submissions -= 1

    async def write(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` (a write to the archive) on one of the WRITERS threads."""
        return await anyio.to_thread.run_sync(work, limiter=self.writes)

    def deliveries(self) -> dict[str, dict[str, int]]:
        """Each notification target's pending and failed events (the outbox read now); a
        target whose segments cannot be read now (no file handles) is left out of this
        answer, not the whole page a 500."""
        if not self.targets:
            return {}
        outbox = self.outbox or Outbox(self.archive_dir / OUTBOX_DIR)
        found = {}
        for target in self.targets:
            with contextlib.suppress(OSError):
                found[target.name] = outbox.counts(target.name, target.wants)
        return found

    def runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """`runs --json` (the newest ``last``), an indexed query of the catalog."""
        return documents.runs_document(self.manager, last)

    def history(self, symbol: str, last: int | None = None) -> list[dict[str, Any]]:
        """`history SYMBOL --json` (the newest ``last``), an indexed query of the catalog."""
        return documents.history_document(self.manager, symbol, last)

    @property
    def archive_dir(self) -> Path:
        """The archive folder (status.json lives there)."""
        return self.manager.archive_dir

    def health(self) -> tuple[dict[str, Any] | None, status.Health, Services]:
        """This host's status.json, what it says now and a shared archive's services (the
        health counts them: a dashboard's host runs none of its own); None for a folder,
        or services that cannot be listed now (see status.health_now)."""
        services, unlisted = services_or_why(lambda: self.manager)
        return (*status.health_now(self.archive_dir, services, unlisted), services)

    @property
    def writable(self) -> bool:
        """Whether decisions may be made from the browser (a token and the library allow it)."""
        return self.token is not None


def state_of(request: Request) -> WebState:
    """The application's WebState."""
    state: WebState = request.app.state.web
    return state


def _shown(value: object) -> object:
    """Every value a page shows, before HTML escaping: text with its control and invisible
    characters as escapes (``\\u202e``), as the CLI prints it; markup made here untouched."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return visible(value)
    return value


def templates() -> Jinja2Templates:
    """The pages' templates (autoescaped: text from files is always escaped, and its
    invisible characters shown: see _shown)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("daemon.web", "templates"),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # A form's value goes back to the server as it is: escaped for HTML, never shown.
    env.filters["verbatim"] = markupsafe.escape
    return Jinja2Templates(env=env)
