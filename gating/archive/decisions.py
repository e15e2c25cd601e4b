"""Decision files: one durable, never rewritten JSON file per decision under ``decisions/``."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gating.archive.catalog_rows import json_object, stored
from gating.archive.disk import Disk
from gating.archive.durable import fsync_dir, not_ours, read_regular, unreadable_now
from gating.archive.layout import Layout, is_timestamp
from gating.archive.log import LOG
from gating.archive.moments import missing_run
from gating.errors import (
    ArchiveError,
    SymbolNotFoundError,
    shown,
)
from gating.explain import reasons, reasons_of_values
from gating.run import run_from_record
from gating.verdicts import (
    MAX_SEQ,
    Champion,
    Decision,
    PendingReview,
    check_decision,
    iso_from_micros,
    micros_from_iso,
    parse_verdict,
)

if TYPE_CHECKING:
    from gating.archive.catalog import Catalog
    from gating.archive.outbox import Outbox
    from gating.archive.storage import Storage
    from gating.events import Event

__all__ = [
    "decision_path",
    "events_of",
    "model_reasons",
    "order",
    "pending_reviews",
    "read_decisions",
    "stored_names",
    "sync_decisions",
    "take_decision",
    "write_decision",
]

_FOLLOWED_AHEAD_MICROS = 86_400 * 1_000_000  # how far ahead of the clock a floor is followed
_SUFFIX = ".json"
_MAX_FILE_BYTES = 256 * 1024  # a decision file: far more than the longest reason allowed


def decision_path(layout: Layout, decision: Decision) -> Path:
    """Where a decision's file lives: ``decisions/{decided_at stamp}-{seq}.json``."""
    return layout.decisions / f"{decision.name}{_SUFFIX}"


def write_decision(layout: Layout, decision: Decision, disk: Disk, *, sync: bool = True) -> Path:
    """Write a decision durably (temp, fsync, rename, fsync of the folder); never overwrite.

    A crash leaves the file whole or absent (a stray temp file is removed by recovery).
    """
    folder = layout.decisions
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        if sync:
            fsync_dir(layout.root)  # the new folder's name is durable before its first file
    path = decision_path(layout, decision)
    if path.exists():
        raise FileExistsError(f"{path}: a decision file is never rewritten")
    data = json.dumps(decision.to_record(), ensure_ascii=False).encode("utf-8") + b"\n"
    disk.write(path, data, sync=sync)
    return path


def stored_names(layout: Layout) -> set[str]:
    """The names (file stems) of every decision file."""
    try:
        with os.scandir(layout.decisions) as entries:
            return {
                e.name[: -len(_SUFFIX)]
                for e in entries
                if e.name.endswith(_SUFFIX) and not e.name.startswith(".")
            }
    except (FileNotFoundError, NotADirectoryError):  # a file in its place holds none
        return set()


def read_decisions(
    layout: Layout,
    names: set[str] | None = None,
    damaged: Callable[[Path, str], None] | None = None,
) -> list[Decision]:
    """Every decision file (or only those ``names``), in order (sequence number, then name).

    A file that is not a decision (edited, damaged or planted by hand: wrong types, a seq
    or time out of range, too big, a symlink, a FIFO, a device) is logged
    ``decision_damaged``, told to ``damaged`` (its path and why) and skipped; it is never
    opened unless it is a regular file. One that cannot be read now (no permission, no
    file handles) is ArchiveError naming it.
    """
    decisions = []
    for name in sorted(stored_names(layout) if names is None else names):
        path = layout.decisions / f"{name}{_SUFFIX}"
        try:
            decision = Decision.from_record(json.loads(read_regular(path, _MAX_FILE_BYTES)))
            if not is_timestamp(decision.timestamp):
                raise ValueError(f"timestamp: {shown(decision.timestamp)} is not a run timestamp")
            if decision.name != name:
                raise ValueError(f"its record names decision {shown(decision.name)}")
        except (OSError, ValueError, RecursionError) as error:
            # Skipping one unreadable now would drop an acknowledged decision from every
            # answer: a DROP's model deployable again.
            if isinstance(error, OSError) and not not_ours(error):
                hint = "a decision is never skipped for that (make it readable to the service)"
                raise unreadable_now(path, error, hint) from None
            # The file is named apart: an OSError says only why ("a symlink, never followed").
            why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            LOG.warning("decision_damaged", extra={"file": str(path), "error": why})
            if damaged is not None:
                damaged(path, why)
            continue
        decisions.append(decision)
    return sorted(decisions, key=order)


def order(decision: Decision) -> tuple[int, str]:
    """Decisions are ordered by sequence number, then by name (a reused seq never collides)."""
    return decision.seq, decision.name


def sync_decisions(layout: Layout, catalog: Catalog, outbox: Outbox | None = None) -> int:
    """Index decision files the catalog lacks (a crash after the file's rename); return how many.

    Their events go to ``outbox`` first, again if they were already there (same ids).
    """
    missing = stored_names(layout) - catalog.decision_names()
    found = read_decisions(layout, missing) if missing else []
    for decision in found:
        if outbox is not None:  # durable first, or they would never be sent
            outbox.emit_durably(events_of(catalog, decision))
        catalog.add_decisions([decision])
    return len(found)


def _champion_data(champion: Champion | None) -> dict[str, object] | None:
    return None if champion is None else {"symbol": champion.symbol, **champion.as_document()}


def events_of(catalog: Storage, decision: Decision) -> list[Event]:
    """The events a decision not yet indexed causes: the champion before and were it indexed."""
    try:
        run = run_from_record(json.loads(catalog.record(decision.timestamp) or b"null"))
    except (ValueError, KeyError, TypeError):
        return []  # a damaged run: no model to tell about
    found = [a for a in run.assessments if a.symbol == decision.symbol]
    if not found:
        return []
    from gating.events import decision_events, model_data  # noqa: PLC0415 - deciding only

    model = model_data(run, found[0])
    mapping = {"id": decision.name, **decision.as_audit()}
    before = _champion_data(catalog.champion(decision.symbol))
    after = _champion_data(catalog.champion_with(decision))
    events = decision_events(model, mapping, after, before)
    if decision.previous == decision.verdict:  # the verdict did not change: no model_* event
        events = [e for e in events if e["type"] == "champion_changed"]
    return events


def take_decision(
    layout: Layout,
    catalog: Catalog,
    timestamp: str,
    symbol: str,
    verdict: object,
    *,
    by: str,
    reason: str,
    force: bool,
    disk: Disk,
    sync: bool = True,
    outbox: Outbox | None = None,
) -> Decision:
    """Decide on one model (the caller holds the writer lock): check, write durably, index.

    The events it causes go to ``outbox`` after the file is written and before the
    catalog indexes it (a crash in between: recovery emits them again, with the same
    ids). Returns the decision with its events. Crash points: ``decision:checked``
    before the file is written, the file's own ``write:*`` points, ``decision:written``,
    ``decision:emitted`` and ``decision:indexed``.
    """
    sync_decisions(layout, catalog, outbox)
    if catalog.run(timestamp) is None:
        raise missing_run(timestamp, catalog.damaged())
    model = catalog.model(timestamp, symbol)
    if model is None:
        raise SymbolNotFoundError(f"run {timestamp} did not gate symbol {shown(symbol)}")
    classification, _, run_id = model
    chosen = parse_verdict(verdict)
    override = check_decision(classification, chosen, by=by, reason=reason, force=force)
    current = catalog.decision_of(timestamp, symbol)
    seq, last_at = catalog.last_decision()
    if seq >= MAX_SEQ:  # a file planted with the largest: the next could never be read back
        raise ArchiveError(
            f"{layout.decisions}: a decision file holds sequence number {seq}, the largest "
            "there may be: no later decision can be numbered (move that file away)"
        )
    micros = time.time_ns() // 1000
    floor = _floor_micros(last_at)
    if floor is not None and floor < micros + _FOLLOWED_AHEAD_MICROS:
        micros = max(micros, floor + 1)  # decided_at increases, across a small clock step back
    decision = Decision(
        seq=seq + 1,
        timestamp=timestamp,
        symbol=symbol,
        verdict=str(chosen),
        previous=classification if current is None else current.verdict,
        classification=classification,
        override=override,
        by=by.strip(),
        reason=reason.strip(),
        decided_at=iso_from_micros(micros),
        run_id=run_id,
    )
    events = events_of(catalog, decision)
    disk.step("decision:checked")
    path = write_decision(layout, decision, disk, sync=sync)
    try:
        disk.step("decision:written")
        if outbox is not None:
            outbox.emit_durably(events)  # cannot be written: no decision (ArchiveError)
    except Exception:
        # Nobody was told of it yet: a decide that reports a failure leaves no decision.
        path.unlink(missing_ok=True)
        if sync:
            fsync_dir(layout.decisions)
        raise
    unindexed = None
    try:
        disk.step("decision:emitted")
        catalog.add_decisions([decision])
    except (ArchiveError, OSError) as error:
        # The decision is made: its file and its events are durable. The catalog is
        # derived data; the running service (or the next writer) indexes it.
        LOG.warning("decision_index_deferred", extra={"file": str(path), "error": str(error)})
        unindexed = (
            f"the decision is kept, but the catalog could not take it yet ({error}): review, "
            "audit and deployable list it once the service, or the next archive, decide or "
            "reindex, indexes it"
        )
    disk.step("decision:indexed")
    return dataclasses.replace(decision, events=tuple(events), unindexed=unindexed)


def _floor_micros(last_at: str | None) -> int | None:
    """The newest decision's time, or None when there is none or it is no time at all.

    A floor more than a day ahead of the clock is not followed (see decide): one file
    dated 2100 must not stamp every later decision 2100 and hide it from ``--at now``.
    """
    if last_at is None:
        return None
    try:
        return micros_from_iso(last_at)
    except ValueError:
        return None


def pending_reviews(catalog: Storage, last: int | None = None) -> Iterator[PendingReview]:
    """REVIEW models with no decision, newest run first (the first ``last``), with reasons.

    The reasons come from the bounds the catalog keeps for each run (a run indexed
    without them: from its record, read once). Read lazily, a page of the catalog at a time.
    """
    parsed: dict[str, Any] = {}
    from_record: tuple[str, dict[str, tuple[str, ...]]] = ("", {})  # the current run's
    for timestamp, run_id, symbol, body, bounds in catalog.pending(last):
        model = stored(body, f"model {symbol} of run {timestamp}", json_object)
        why = None
        if bounds is not None and not _below_champion(model):
            if bounds not in parsed:
                parsed[bounds] = _loaded(timestamp, bounds)
            why = _by_bounds(timestamp, model, parsed[bounds])
        if why is None:
            if from_record[0] != timestamp:  # the queue is in run order: one run at a time
                from_record = (timestamp, _run_reasons(catalog, timestamp))
            why = from_record[1].get(symbol, ())
        yield PendingReview(timestamp, run_id, symbol, model, why)


def _loaded(timestamp: str, text: str) -> Any:
    """A run's stored bounds; None, said in the log, when they are not JSON (a row written
    by hand: the run's record gives the reasons instead)."""
    try:
        return json.loads(text)
    except ValueError as error:
        LOG.warning("run_damaged", extra={"timestamp": timestamp, "reason": f"bounds: {error}"})
        return None


def _by_bounds(timestamp: str, model: Mapping[str, Any], bounds: Any) -> tuple[str, ...] | None:
    """A model's reasons by its run's bounds; None when the bounds or the model's values
    cannot be read so (then the run's record gives them)."""
    if bounds is None:
        return None
    try:
        return tuple(reasons_of_values(model, bounds))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        LOG.warning("run_damaged", extra={"timestamp": timestamp, "reason": f"bounds: {error}"})
        return None


def model_reasons(
    catalog: Storage, timestamp: str, symbol: str, model: Mapping[str, Any]
) -> list[str]:
    """One archived model's reasons in words (its run's bounds, else its run's record)."""
    bounds = catalog.bounds_of(timestamp)
    if bounds is not None and not _below_champion(model):
        why = _by_bounds(timestamp, model, _loaded(timestamp, bounds))
        if why is not None:
            return list(why)
    return list(_run_reasons(catalog, timestamp).get(symbol, ()))


def _below_champion(model: Mapping[str, Any]) -> bool:
    """Whether the champion comparison made the model REVIEW: its words are in the record."""
    return "BELOW_CHAMPION" in model.get("flags", ())


def _run_reasons(catalog: Storage, timestamp: str) -> dict[str, tuple[str, ...]]:
    """Each model's reasons in words, from the run's record (empty if it cannot be read)."""
    try:
        run = run_from_record(json.loads(catalog.record(timestamp) or b"null"))
    except (ValueError, KeyError, TypeError) as error:
        LOG.warning("run_damaged", extra={"timestamp": timestamp, "reason": str(error)})
        return {}
    return {a.symbol: tuple(reasons(a)) for a in run.assessments}
