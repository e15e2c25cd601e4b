"""The JSON documents the CLI's --json prints and the dashboard's API serves, built once."""

from __future__ import annotations

import collections
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.errors import DocumentError
from daemon.text import named
from gating.errors import source_text

if TYPE_CHECKING:
    from gating import TrainingArchiveManager
    from gating.run import ArchivedRun
    from gating.verdicts import Decision

__all__ = [
    "AUDIT_KEYS",
    "DEPLOYABLE_KEYS",
    "REVIEW_KEYS",
    "RUN_KEYS",
    "DocumentError",
    "approved_document",
    "assess_document",
    "audit_document",
    "decision_document",
    "deployable_document",
    "dumps",
    "history_document",
    "history_records",
    "list_chunks",
    "newest",
    "no_history_message",
    "outcome_document",
    "parse_last",
    "pending_count",
    "review_document",
    "review_items",
    "run_document",
    "runs_document",
    "runs_items",
    "symbol_suggestion",
]

RUN_KEYS = ("timestamp", "run_id", "source", "approved", "review", "dropped")
REVIEW_KEYS = (
    "timestamp",
    "run_id",
    "symbol",
    "classification",
    "fitness",
    "profit_factor",
    "consistency",
    "max_drawdown",
    "reasons",
)
DEPLOYABLE_KEYS = (
    "timestamp",
    "run_id",
    "verdict_by",
    "reason",
    "fitness",
    "profit_factor",
    "consistency",
    "max_drawdown",
    "use_checkpoint",
    "checkpoint_step",
)
AUDIT_KEYS = (
    "timestamp",
    "symbol",
    "verdict",
    "previous",
    "override",
    "by",
    "reason",
    "decided_at",
)


_LAST_DIGITS = 18  # ?last= fits SQLite's 64-bit integers with room to spare


_WHOLE = re.compile(r"[+-]?[0-9]+")


def parse_last(text: str | None) -> int | None:
    """A ``--last``/``?last=`` value as a positive integer (None when not given).

    A count larger than any archive (up to 18 digits) means all of them; more digits, or
    anything but ASCII digits, is a DocumentError.
    """
    if text is None or text == "":
        return None
    digits = text.strip()
    if _WHOLE.fullmatch(digits) is None or len(digits) > _LAST_DIGITS:  # one sign at most
        raise DocumentError(f"last: {text[:40]!r} is not a whole number of runs")
    value = int(digits)
    if value < 1:
        raise DocumentError(f"last: {value} must be at least 1")
    return value


def newest(items: Iterable[Any], last: int | None) -> list[Any]:
    """The newest ``last`` items of an oldest-first sequence, still oldest first."""
    if last is None:
        return list(items)
    return list(collections.deque(items, maxlen=last))


def _pick(record: Any, keys: Iterable[str]) -> dict[str, Any]:
    """Those fields of a record, a mapping or an object, in that order (None when absent).

    An object with ``as_document()`` (the archive's PendingReview, Champion and Decision)
    is read through it.
    """
    if not isinstance(record, Mapping) and hasattr(record, "as_document"):
        record = record.as_document()
    if isinstance(record, Mapping):
        return {key: record.get(key) for key in keys}
    return {key: getattr(record, key, None) for key in keys}


def runs_document(manager: TrainingArchiveManager, last: int | None = None) -> list[dict[str, Any]]:
    """`runs --json`: every run (or the newest ``last``), oldest first, with its counts."""
    return [_pick(run, RUN_KEYS) for run in manager.list_runs(last)]


def run_document(manager: TrainingArchiveManager, timestamp: str) -> dict[str, Any]:
    """One run's full record: identity, config, counts and each model's assessment.

    ``timestamp`` may be a unique prefix or ``latest``, as everywhere the CLI takes one.
    """
    return manager.reader.get_run(manager.reader.resolve_timestamp(timestamp)).to_record()


def symbol_suggestion(manager: TrainingArchiveManager, symbol: str) -> str | None:
    """The one archived symbol that ``symbol`` names but for case; None if it is one, or none."""
    if manager.reader.history_count(symbol):
        return None
    return same_but_case(symbol, manager.reader.symbols())


def same_but_case(symbol: str, known: Iterable[str]) -> str | None:
    """The one of ``known`` that ``symbol`` names but for case, or None (none, or several)."""
    folded = symbol.casefold()
    matches = [name for name in known if name.casefold() == folded]
    return matches[0] if len(matches) == 1 else None


def no_history_message(
    manager: TrainingArchiveManager, symbol: str, where: Path | str | None = None
) -> str:
    """Why a symbol has no history (in archive ``where``), with the symbol it may mean."""
    message = f"no archived run gated {named(symbol)}" + ("" if where is None else f" in {where}")
    suggestion = symbol_suggestion(manager, symbol)
    if suggestion is not None:
        message += f" (symbols are case-sensitive: did you mean {suggestion}?)"
    return message


def approved_document(manager: TrainingArchiveManager, timestamp: str | None = None) -> list[str]:
    """`approved --json`: the symbols APPROVED in a run, named by its timestamp, a unique
    prefix of it or ``latest`` (the latest when None)."""
    if timestamp is not None:
        timestamp = manager.reader.resolve_timestamp(timestamp)
    return manager.get_approved_models(timestamp)


def history_records(
    manager: TrainingArchiveManager, symbol: str, last: int | None = None
) -> Iterator[bytes]:
    """`history --json`'s records as JSON bytes, oldest first (the newest ``last``)."""
    return manager.reader.symbol_history_json(symbol, last)


def history_document(
    manager: TrainingArchiveManager, symbol: str, last: int | None = None
) -> list[dict[str, Any]]:
    """`history --json`: one record per run that gated ``symbol``, oldest first."""
    return [json.loads(record) for record in history_records(manager, symbol, last)]


def review_document(
    manager: TrainingArchiveManager, last: int | None = None, *, flags: bool = False
) -> list[dict[str, Any]]:
    """`review --json`: the models awaiting review, newest first (the first ``last``), and why.

    ``flags=True`` adds each model's flags, for the table and the dashboard (not in SPEC 8's JSON).
    """
    keys = (*REVIEW_KEYS, "flags") if flags else REVIEW_KEYS
    return [_pick(item, keys) for item in manager.pending_reviews(last)]


def pending_count(manager: TrainingArchiveManager) -> int:
    """How many models await review, counted by the catalog (no run is read)."""
    return manager.review.pending_count()


def deployable_document(
    manager: TrainingArchiveManager, at: str | None = None
) -> dict[str, dict[str, Any]]:
    """`deployable --json`: every symbol's champion (as it stood at ``at`` when given)."""
    champions = manager.get_deployable(at=at)
    return {symbol: _pick(champion, DEPLOYABLE_KEYS) for symbol, champion in champions.items()}


def audit_document(
    manager: TrainingArchiveManager, symbol: str | None = None, *, timestamp: str | None = None
) -> list[dict[str, Any]]:
    """`audit --json`: every decision (on ``symbol``; on run ``timestamp``), oldest first."""
    return [_pick(item, AUDIT_KEYS) for item in manager.decisions(symbol, timestamp=timestamp)]


def outcome_document(
    source: str, outcome: str, timestamp: str | None, reason: str | None
) -> dict[str, Any]:
    """What became of one summary, as `archive --json` lists it and POST /api/runs answers."""
    return {"source": source, "outcome": outcome, "timestamp": timestamp, "reason": reason}


def dumps(document: Any) -> str:
    """The text of a document as the CLI prints it: a list one item per line; a file
    name's bytes that are not UTF-8 (lone surrogates) as ``\\udcXX`` escapes, so it
    encodes (raw, they ended the command, or made the output not UTF-8)."""
    if isinstance(document, list) and document:
        items = ",\n".join(json.dumps(item, ensure_ascii=False) for item in document)
        text = f"[\n{items}\n]"
    else:
        text = json.dumps(document, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return source_text(text)
    return text


def list_chunks(items: Iterable[bytes], per_chunk: int = 1000) -> Iterator[bytes]:
    """A list of JSON items (each already JSON) as ``dumps`` writes it, then a newline, in
    chunks of ``per_chunk`` items: a million-run document is never whole in memory."""
    items = iter(items)
    first = True
    while chunk := list(itertools.islice(items, per_chunk)):
        yield (b"[\n" if first else b",\n") + b",\n".join(chunk)
        first = False
    yield b"[]\n" if first else b"\n]\n"


def runs_items(manager: TrainingArchiveManager, last: int | None = None) -> Iterator[bytes]:
    """Each run of `runs --json` (the newest ``last``) as JSON, read lazily."""
    for run in manager.reader.iter_runs(last):
        yield json.dumps(_pick(run, RUN_KEYS), ensure_ascii=False).encode()


def review_items(manager: TrainingArchiveManager, last: int | None = None) -> Iterator[bytes]:
    """Each model of `review --json` (the first ``last``) as JSON, read lazily."""
    for item in manager.review.iter_pending_reviews(last):
        yield json.dumps(_pick(item, REVIEW_KEYS), ensure_ascii=False).encode()


def assess_document(run: ArchivedRun) -> list[dict[str, Any]]:
    """`assess --json`: each model's record (every metric with both bounds and its band)
    and its reasons in words."""
    from gating.explain import reasons  # noqa: PLC0415 - the queries never explain

    models = run.to_record()["models"]
    return [
        {**model, "reasons": reasons(a)} for model, a in zip(models, run.assessments, strict=True)
    ]


def decision_document(decision: Decision) -> dict[str, Any]:
    """`decide --json`: the decision as the audit trail lists it, and the events it caused."""
    return {**_pick(decision, AUDIT_KEYS), "events": list(decision.events)}
