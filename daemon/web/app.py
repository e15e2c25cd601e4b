"""The dashboard's Starlette application: its routes, its guard and how errors answer."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.archives import deliveries_of
from daemon.config import Config
from daemon.web import api, pages
from daemon.web.security import public_origin
from daemon.web.state import WRITE_WAIT_SECONDS, WebState, templates
from gating import ArchiveBusyError, ArchiveError, TrainingArchiveManager

__all__ = ["STATIC", "Guard", "create_app", "host_name"]

STATIC = Path(__file__).with_name("static")
REBUILD_WAIT_SECONDS = 1.0  # a catalog rebuilt on its own thread: how long a request waits
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages change with every run, and a signed-in page holds the session's CSRF token:
    # never kept by a browser or a proxy (nor the one stylesheet, 3 kB, fetched again).
    "Cache-Control": "no-store",
}


def host_name(header: str) -> str:
    """The host of a Host header, without its port ('[::1]:8470' -> '::1')."""
    if header.startswith("["):
        return header[1 : header.find("]")].lower() if "]" in header else header.lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


class Guard:
    """ASGI middleware: refuses unexpected Host headers, adds the security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the Host (against DNS rebinding), pass the request on, add the headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            host = Headers(scope=scope).get("host", "")
            if host_name(host) not in self.allowed:
                response = PlainTextResponse("unexpected Host header", status_code=400)
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/health", "/metrics")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if _wants_json(request):
        return api.error_response(error.status_code, str(error.detail))
    if error.status_code >= 400:
        context = {"status_code": error.status_code, "message": str(error.detail)}
        return pages.render(request, "error.html", context, status_code=error.status_code)
    return PlainTextResponse(str(error.detail), status_code=error.status_code)


async def _archive_error(request: Request, error: Exception) -> Response:
    """An archive that cannot be read now (its writer lock held by a catalog rebuild, say,
    or its disk failing) is a 503 with one line and Retry-After, never a traceback."""
    assert isinstance(error, ArchiveError)
    if isinstance(error, ArchiveBusyError):
        message = f"the archive is busy, try again in a few seconds ({error})"
    else:
        message = f"the archive cannot be read now ({error})"
    if _wants_json(request):
        response = api.error_response(503, message)
    else:
        context = {"status_code": 503, "message": message}
        response = pages.render(request, "error.html", context, status_code=503)
    response.headers["Retry-After"] = str(int(WRITE_WAIT_SECONDS))
    return response


def create_app(
    config: Config,
    token: str | None = None,
    manager: TrainingArchiveManager | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
    submit_token: str | None = None,
) -> Starlette:
    """The dashboard over ``config``'s archive; ``token`` (when set) allows decisions,
    ``submit_token`` (when set) allows runs sent with POST /api/runs.

    ``allowed_hosts``, when given, are the only Host headers answered, besides the host of
    [serve] public_url (the name a reverse proxy passes on).
    """
    public = public_origin(config.serve.public_url) if config.serve.public_url else None
    if allowed_hosts is not None and public is not None:
        allowed_hosts = (*allowed_hosts, urlsplit(public).hostname or "")
    if manager is None:
        from daemon.archives import open_archive  # noqa: PLC0415 - see the imports
        from daemon.notify.settings import outbox_for  # noqa: PLC0415 - only for decisions

        manager = open_archive(
            config,
            lock_timeout=WRITE_WAIT_SECONDS,  # a decision waits this long, then is a 503
            rebuild_wait=REBUILD_WAIT_SECONDS,  # a page waits this long for a rebuild, then 503
            # PostgreSQL away: a page or a POST answers 503 within seconds (a sender's
            # timeout is 30 s; every request held a thread for a minute)
            retry_seconds=WRITE_WAIT_SECONDS,
            # the browser's decisions notify, like decide
            outbox=outbox_for(config.archive.dir, config.notify),
        )
    routes = [
        Route("/", pages.home),
        Route("/runs/{timestamp}", pages.run_page),
        Route("/symbols/{symbol:path}", pages.symbol_page),
        Route("/review", pages.review_page),
        Route("/review/decide", pages.decide, methods=["POST"]),
        Route("/login", pages.login_page),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/api/runs", api.runs),
        Route("/api/runs", api.submit_run, methods=["POST"]),
        Route("/api/runs/{timestamp}", api.run),
        Route("/api/history/{symbol:path}", api.history),
        Route("/api/approved", api.approved),
        Route("/api/deployable", api.deployable),
        Route("/api/review", api.review),
        Route("/api/audit", api.audit),
        Route("/health", api.health),
        Route("/metrics", api.metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, allowed_hosts=allowed_hosts)],
        exception_handlers={HTTPException: _http_error, ArchiveError: _archive_error},
    )
    app.state.web = WebState(
        manager=manager,
        token=token or None,
        submit_token=submit_token or None,
        public=public,
        templates=templates(),
        targets=config.notify.targets,
        outbox=deliveries_of(config, manager) if config.notify.targets else None,
    )
    return app
