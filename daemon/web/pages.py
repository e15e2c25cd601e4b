"""The dashboard's HTML pages and its two forms (sign in, decide), server-rendered."""

from __future__ import annotations

import functools
import math
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from daemon import documents
from daemon.documents import DocumentError
from daemon.web import security, views
from daemon.web.bodies import form_within
from daemon.web.state import HISTORY_PAGE, WRITE_WAIT_SECONDS, state_of
from gating import (
    AmbiguousTimestampError,
    ArchiveBusyError,
    ArchiveError,
    DecisionConflictError,
    RunNotFoundError,
)
from gating.rules import METRICS

__all__ = ["decide", "home", "login", "login_page", "logout", "review_page", "run_page"]

LATEST_RUNS = 20
LATEST_REJECTED = 10  # rejected files the home page lists
REVIEW_PAGE = 200  # models the review page lists at most, newest first
VERDICTS = {"approve": "APPROVED", "drop": "DROP"}


def _session(request: Request) -> str | None:
    """The request's valid session cookie, if any."""
    web = state_of(request)
    value = request.cookies.get(security.SESSION_COOKIE)
    if web.token is None or value in web.revoked:
        return None
    if not security.session_valid(web.token + web.session_salt, value):
        return None
    return value


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """A page with what every page needs: whether writing is possible and the CSRF token."""
    web = state_of(request)
    session = _session(request)
    common = {
        "writable": web.writable,
        "token_configured": web.token is not None,
        "signed_in": session is not None,
        "csrf": security.csrf_token(web.token, session) if web.token and session else "",
    }
    return web.templates.TemplateResponse(
        request, name, {**common, **context}, status_code=status_code
    )


def _health(request: Request) -> dict[str, Any]:
    document, health, _ = state_of(request).health()
    return {**health.as_dict(), "status": document}


def home(request: Request) -> Response:
    """The deployable set, the review queue's length, the latest runs, the service's health."""
    web = state_of(request)
    manager = web.manager
    runs = web.runs(LATEST_RUNS)
    deployable = documents.deployable_document(manager)
    pending = documents.pending_count(manager)
    rejected = [e.as_document() for e in manager.writer.rejected(LATEST_REJECTED)]
    totals = manager.reader.totals()["runs"]
    view = views.home_view(runs, totals, deployable, pending, _health(request), rejected=rejected)
    return render(request, "home.html", view)


def run_page(request: Request) -> Response:
    """One run: its models by class, each metric against its bounds, flags, charts."""
    manager = state_of(request).manager
    timestamp = request.path_params["timestamp"]
    try:
        record = documents.run_document(manager, timestamp)
    except RunNotFoundError as error:
        raise HTTPException(404, str(error)) from None
    except AmbiguousTimestampError as error:
        raise HTTPException(400, str(error)) from None
    verdicts: dict[str, dict[str, Any]] = {}
    for decision in documents.audit_document(manager, timestamp=record["timestamp"]):
        verdicts[decision["symbol"]] = decision  # oldest first: the last one holds
    return render(request, "run.html", views.run_view(record, verdicts))


def symbol_page(request: Request) -> Response:
    """One symbol: the chart of its newest runs with bounds, decisions and champion, a table."""
    web = state_of(request)
    symbol = request.path_params["symbol"]
    if not symbol:  # the search box: /symbols/?symbol=X
        wanted = request.query_params.get("symbol", "").strip()
        if not wanted:
            raise HTTPException(404, "no symbol given")
        known = documents.symbol_suggestion(web.manager, wanted)  # the search ignores case
        symbol = known or wanted
        if symbol not in views.DOT_SEGMENTS:  # those are shown here: no path keeps them
            return RedirectResponse(views.symbol_url(symbol), status_code=303)
    try:
        last = documents.parse_last(request.query_params.get("last")) or HISTORY_PAGE
    except DocumentError as error:
        raise HTTPException(400, str(error)) from None
    records, total = web.history(symbol, last), web.manager.reader.history_count(symbol)
    if not total:
        raise HTTPException(404, documents.no_history_message(web.manager, symbol))
    found = web.manager.review.get_champion(symbol)
    champion = None if found is None else found.timestamp
    bounds = {metric: web.manager.config.bounds(metric) for metric in METRICS}
    view = views.symbol_view(symbol, records, total, bounds, champion=champion, shown=last)
    return render(request, "symbol.html", view)


def _review_context(request: Request) -> dict[str, Any]:
    manager = state_of(request).manager
    notice, mac = request.query_params.get("decided"), request.query_params.get("mac")
    items = documents.review_document(manager, REVIEW_PAGE, flags=True)
    for item in items:
        item["url"] = views.symbol_url(item["symbol"])
        item["shown"] = [views.fmt(item[m]) for m in METRICS]
        item["reason_list"] = views.reason_list(item.get("reasons"))
        item["flag_list"] = views.reason_list(item.get("flags"))
    total = documents.pending_count(manager)
    return {
        "items": items,
        "total": total,
        "notice": notice if security.notice_valid(state_of(request).token, notice, mac) else None,
        "error": None,
    }


def review_page(request: Request) -> Response:
    """The review queue, with approve/drop forms for a signed-in reviewer."""
    return render(request, "review.html", _review_context(request))


def _check_origin(request: Request) -> None:
    headers, public = request.headers, state_of(request).public
    if not security.same_origin(
        headers.get("origin"), headers.get("referer"), headers.get("host"), public
    ):
        raise HTTPException(403, "refused: the form did not come from this dashboard")


async def decide(request: Request) -> Response:
    """Record an approve or drop decision (token session, CSRF token and same origin needed)."""
    web = state_of(request)
    if not web.writable or web.token is None:
        raise HTTPException(403, "read-only dashboard: no write token is configured")
    _check_origin(request)
    session = _session(request)
    if session is None:
        raise HTTPException(403, "sign in with the token first")
    form = await form_within(request)
    fields = {key: str(form.get(key) or "") for key in ("csrf", "timestamp", "symbol", "verdict")}
    if not security.csrf_valid(web.token, session, fields["csrf"]):
        raise HTTPException(403, "refused: missing or wrong CSRF token")
    verdict = VERDICTS.get(fields["verdict"])
    by, reason = str(form.get("by") or "").strip(), str(form.get("reason") or "").strip()
    seen_text = str(form.get("seen") or "")
    seen = int(seen_text) if seen_text.isdigit() and len(seen_text) < 19 else None
    error = None
    if verdict is None:
        error = f"verdict: {fields['verdict'][:20]!r} is not approve or drop"
    else:  # a blank name or reason: check_decision's DecisionError (a ValueError), below
        try:  # off the event loop: waiting for the writer lock holds up no other request
            decision = await web.write(
                functools.partial(
                    web.manager.decide,
                    fields["timestamp"],
                    fields["symbol"],
                    verdict,
                    by=by,
                    reason=reason,
                    force=form.get("force") == "on",
                    seen=seen,  # what the page showed: another decision since is a 409
                )
            )
        except DecisionConflictError as conflict:
            context = {**_review_context(request), "error": f"not recorded: {conflict}"}
            return render(request, "review.html", context, status_code=409)
        except ArchiveBusyError:
            busy = "the archive is busy (another process is writing): try again in a few seconds"
            context = {**_review_context(request), "error": busy}
            response = render(request, "review.html", context, status_code=503)
            response.headers["Retry-After"] = str(int(WRITE_WAIT_SECONDS))
            return response
        except ArchiveError as failure:
            context = {**_review_context(request), "error": f"not recorded: {failure}"}
            return render(request, "review.html", context, status_code=503)
        except (KeyError, ValueError) as failure:
            error = str(failure.args[0]) if failure.args else str(failure)
    if error is not None:
        context = {**_review_context(request), "error": error}
        return render(request, "review.html", context, status_code=400)
    notice = f"{verdict} {decision.symbol} ({decision.timestamp})"  # the run meant, resolved
    if decision.unindexed is not None:  # kept, but these pages do not list it yet
        notice = f"{notice} - {decision.unindexed}"
    signed = security.notice_mac(web.token, notice)
    return RedirectResponse(f"/review?decided={quote(notice)}&mac={signed}", status_code=303)


def login_page(request: Request) -> Response:
    """The sign-in form (only when a token is configured)."""
    if state_of(request).token is None:
        raise HTTPException(404, "read-only dashboard: no write token is configured")
    return render(request, "login.html", {"error": None})


async def login(request: Request) -> Response:
    """Check the token; on success set a signed session cookie and go to the review queue."""
    web = state_of(request)
    if web.token is None:
        raise HTTPException(403, "read-only dashboard: no write token is configured")
    _check_origin(request)
    form = await form_within(request)
    address = request.client.host if request.client else "?"
    wait = web.throttle.wait_seconds(address)
    if wait > 0:
        error = f"too many wrong tokens: try again in {math.ceil(wait)} s"
        response = render(request, "login.html", {"error": error}, status_code=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    if not security.token_matches(web.token, str(form.get("token") or "")):
        web.throttle.failed(address)
        return render(request, "login.html", {"error": "wrong token"}, status_code=403)
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(
        security.SESSION_COOKIE,
        security.new_session(web.token + web.session_salt),
        max_age=security.SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or (web.public or "").startswith("https:"),
    )
    return response


async def logout(request: Request) -> Response:
    """Sign out: the session is revoked (a copied cookie no longer signs in), then forgotten."""
    _check_origin(request)
    session = _session(request)
    if session is not None:
        state_of(request).revoked.revoke(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE)
    return response
