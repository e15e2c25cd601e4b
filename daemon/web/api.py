"""The dashboard's JSON API (the CLI's --json documents), /health and /metrics."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from daemon import documents
from daemon.logs import get_logger
from daemon.outcome_log import log_sent
from daemon.status import status_json
from daemon.web.bodies import body_within
from daemon.web.metrics import ArchiveCollector, metrics_text, registry_for
from daemon.web.security import token_matches
from daemon.web.state import WRITE_WAIT_SECONDS, WebState, state_of
from gating import ArchiveError, GatingError, TrainingArchiveManager
from gating.arguments import SOURCE_CHARS

__all__ = [
    "SUBMIT_STATUS",
    "approved",
    "audit",
    "deployable",
    "error_response",
    "health",
    "history",
    "metrics",
    "review",
    "run",
    "runs",
    "submit_run",
]

JSON = "application/json"


def json_response(document: Any, status_code: int = 200) -> Response:
    """A document exactly as the CLI's --json prints it."""
    return Response(documents.dumps(document) + "\n", status_code, media_type=JSON)


def error_response(status_code: int, message: str) -> Response:
    """An error as a JSON object with one line of text."""
    return json_response({"error": message}, status_code)


def _answer(request: Request, build: Callable[[TrainingArchiveManager], Any]) -> Response:
    """Build a document; an unknown run or symbol is a 404, a bad option a 400."""
    return _guarded(lambda: json_response(build(state_of(request).manager)))


def _guarded(answer: Callable[[], Response]) -> Response:
    """An answer, or the error it raised as one line: 404 for an unknown run, else 400
    (an archive that cannot be read now is the app's 503)."""
    try:
        return answer()
    except ArchiveError:
        raise
    except documents.DocumentError as error:
        return error_response(400, str(error))
    except KeyError as error:
        return error_response(404, str(error.args[0]) if error.args else "not found")
    except (GatingError, ValueError) as error:
        return error_response(400, str(error))


def _last(request: Request) -> int | None:
    return documents.parse_last(request.query_params.get("last"))


def _listing(
    request: Request,
    newest: Callable[[TrainingArchiveManager, int | None], Iterable[bytes]],
) -> Response:
    """The newest ``?last=`` items, or the whole list, streamed a page at a time (a million
    runs are never one document in memory). The first page is read before the answer
    starts, so a busy or damaged archive is still one line with its status code."""

    def answer() -> Response:
        chunks = documents.list_chunks(newest(state_of(request).manager, _last(request)))
        first = next(chunks)
        return StreamingResponse(itertools.chain([first], chunks), media_type=JSON)

    return _guarded(answer)


# Read-only handlers are plain functions: Starlette runs them in its thread pool, so a long
# listing never holds up the other requests.


def runs(request: Request) -> Response:
    """`runs --json` (``?last=N``)."""
    return _listing(request, documents.runs_items)


def run(request: Request) -> Response:
    """One run's full record."""
    timestamp = request.path_params["timestamp"]
    return _answer(request, lambda m: documents.run_document(m, timestamp))


def history(request: Request) -> Response:
    """`history SYMBOL --json` (``?last=N``)."""
    symbol = request.path_params["symbol"]
    return _listing(request, lambda m, last: documents.history_records(m, symbol, last))


def approved(request: Request) -> Response:
    """`approved [TIMESTAMP] --json` (``?timestamp=``)."""
    timestamp = request.query_params.get("timestamp") or None
    return _answer(request, lambda m: documents.approved_document(m, timestamp))


def deployable(request: Request) -> Response:
    """`deployable --json` (``?at=TIME``)."""
    at = request.query_params.get("at") or None
    return _answer(request, lambda m: documents.deployable_document(m, at))


def review(request: Request) -> Response:
    """`review --json` (``?last=N``)."""
    return _listing(request, documents.review_items)


def audit(request: Request) -> Response:
    """`audit [SYMBOL] --json` (``?symbol=``)."""
    symbol = request.query_params.get("symbol") or None
    return _answer(request, lambda m: documents.audit_document(m, symbol))


def health(request: Request) -> Response:
    """`status --json`: 200 when the service is healthy, 503 when not."""
    web = state_of(request)
    document, verdict, services = web.health()  # shared mode: every service of the database
    found = status_json(document, verdict)
    if services is not None:
        found = {**found, "services": services}
    return json_response(found, 200 if verdict.healthy else 503)


def metrics(request: Request) -> Response:
    """Prometheus text: the archive's runs, models, rejects, decisions and the service."""
    web = state_of(request)
    collector = ArchiveCollector(web.manager, lambda: web.health()[:2], web.deliveries)
    registry = registry_for(collector)
    return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)


# POST /api/runs answers as `archive --json` does for one file, with these statuses (never
# "incomplete": a body is whole, so ingest_bytes lets nothing wait).
SUBMIT_STATUS = {"archived": 201, "duplicate": 200, "rejected": 422, "skipped": 422, "failed": 503}
_LOG = get_logger("gatewatch.web")


def _submitter_problem(request: Request) -> Response | None:
    """Why this request may not submit runs (403 when nobody may, 401 without the token)."""
    token = state_of(request).submit_token
    if token is None:
        return error_response(
            403, "submitting runs is off: set [serve] submit_token_env and that variable"
        )
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not token_matches(token, value.strip() or None):
        response = error_response(
            401,
            "the submit token is wrong: Authorization: Bearer TOKEN"
            if value.strip()
            else "a submit token is needed: Authorization: Bearer TOKEN",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="gatewatch"'
        return response
    return None


def _source_header(header: str) -> str:
    """X-Gatewatch-Source as text: its bytes read as UTF-8 (as `push` sends a name in any
    script; the server gets them as Latin-1 characters), else as they came; printable
    characters only, at most SOURCE_CHARS (a Linux path's limit): a longer one keeps its
    start (the host) and its end (the file), cut in the middle (cut at its end, two runs'
    sources were one)."""
    with contextlib.suppress(UnicodeError):  # not UTF-8: each byte a Latin-1 character
        header = header.encode("latin-1").decode("utf-8")
    text = "".join(c for c in header if c.isprintable()).strip()
    if len(text) <= SOURCE_CHARS:
        return text
    half = SOURCE_CHARS // 2
    return text[: half - 1] + "…" + text[-half:]


async def submit_run(request: Request) -> Response:
    """POST /api/runs: archive the summary in the body (the submit token, at most [watch]
    max_file_bytes); 201 archived, 200 duplicate, 422 rejected with the reason."""
    refused = _submitter_problem(request)
    if refused is not None:
        return refused
    web = state_of(request)
    client = request.client.host if request.client else "unknown"
    named = _source_header(request.headers.get("x-gatewatch-source", ""))
    source = named or f"http:{client}"
    if not web.admit_submission():  # before the body is read: nothing queues without end
        reason = "the archive is busy: too many runs wait to be archived; send it again later"
        _LOG.warning("archive_failed", source=source, reason=reason)
        busy = json_response(documents.outcome_document(source, "failed", None, reason), 503)
        busy.headers["Retry-After"] = str(int(WRITE_WAIT_SECONDS))
        return busy
    try:
        return await _archive_sent(request, web, source)
    finally:
        web.release_submission()


async def _archive_sent(request: Request, web: WebState, source: str) -> Response:
    """The body of a run sent, archived on a writer thread, and the answer."""
    from daemon.intake import ingest_bytes  # noqa: PLC0415 - only submissions archive

    manager = web.manager
    try:
        body = await body_within(request, manager.max_file_bytes)
    except ClientDisconnect:
        return error_response(400, "the client went away before the whole summary came")
    if body is None:
        reason = f"the summary is larger than max_file_bytes ({manager.max_file_bytes})"
        _LOG.warning("file_rejected", source=source, reason=reason)
        return error_response(413, reason)
    outcome = await web.write(lambda: ingest_bytes(manager, body, source, web.rejected))
    document = documents.outcome_document(source, outcome.kind, outcome.timestamp, outcome.reason)
    answer = json_response(document, SUBMIT_STATUS[outcome.kind])
    if outcome.kind == "failed":  # the archive cannot be written now (busy, disk, database)
        answer.headers["Retry-After"] = str(int(WRITE_WAIT_SECONDS))
    # The same line as a watched file's (run_archived, file_rejected...): a run sent was
    # only an access line, so an alert on the service's events missed every one.
    log_sent(_LOG, outcome)
    return answer
