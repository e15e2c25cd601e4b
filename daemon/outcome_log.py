"""What the service's log says about each file the worker handled (one line a file)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.intake import Outcome

__all__ = ["log_failure", "log_outcome", "log_sent"]


# The approved symbols a run_archived line names: a run of 100,000 symbols made a line of
# 989 KB, which journald splits past 48 KB (and a JSON log reader then fails on it).
SYMBOLS_LOGGED = 100


def _more(approved: int) -> dict[str, int]:
    """``approved_symbols_more``: how many approved symbols the line leaves out, if any."""
    return {"approved_symbols_more": approved - SYMBOLS_LOGGED} if approved > SYMBOLS_LOGGED else {}


def log_failure(log: Any, outcome: Outcome, delay: float, attempts: int, *, news: bool) -> None:
    """A file that could not be archived, retried in ``delay`` seconds: an error when the
    failure is news, debug while it stays the same."""
    log.log(
        logging.ERROR if news else logging.DEBUG,
        "archive_failed",
        source=str(outcome.source),
        reason=outcome.reason,
        retry_in_s=delay,
        attempts=attempts,
    )


def log_outcome(log: Any, outcome: Outcome, *, quiet: bool) -> None:
    """A file handled for good: archived, a duplicate (debug when ``quiet``: a restart over
    files archived before, summed up in startup_backlog_done), rejected or skipped."""
    source = str(outcome.source)
    run = outcome.run
    if outcome.kind == "archived" and run is not None:
        log.info(
            "run_archived",
            timestamp=run.timestamp,
            run_id=run.run_id,
            approved=run.approved_count,
            review=run.review_count,
            dropped=run.dropped_count,
            approved_symbols=run.approved[:SYMBOLS_LOGGED],
            **_more(len(run.approved)),
            source=source,
            duration_ms=outcome.duration_ms,
        )
    elif outcome.kind == "duplicate":
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "duplicate_skipped",
            source=source,
            timestamp=outcome.timestamp,
            sha256=outcome.sha256,
        )
    elif outcome.kind == "rejected":
        log.warning("file_rejected", source=source, reason=outcome.reason)
    else:
        log.debug("file_skipped", source=source, reason=outcome.reason)


def log_sent(log: Any, outcome: Outcome) -> None:
    """A run sent over HTTP: the line a watched file gets; a failure (the sender was told
    to send it again) a warning, as senders retrying against a full disk would be an
    error each."""
    if outcome.kind == "failed":
        log.warning("archive_failed", source=str(outcome.source), reason=outcome.reason)
    else:
        log_outcome(log, outcome, quiet=False)
