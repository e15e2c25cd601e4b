"""The dashboard's JSON API (the CLI's --json documents), /health and /metrics."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from daemon import documents
from daemon.status import status_json
from daemon.web.metrics import ArchiveCollector, metrics_text, registry_for
from daemon.web.state import health_now, state_of
from gating import GatingError, TrainingArchiveManager

__all__ = [
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
    """An answer, or the error it raised as one line: 404 for an unknown run, else 400."""
    try:
        return answer()
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
    document, verdict = health_now(state_of(request).archive_dir)
    return json_response(status_json(document, verdict), 200 if verdict.healthy else 503)


def metrics(request: Request) -> Response:
    """Prometheus text: the archive's runs, models, rejects, decisions and the service."""
    web = state_of(request)
    collector = ArchiveCollector(web.manager, lambda: health_now(web.archive_dir), web.deliveries)
    registry = registry_for(collector)
    return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)
