"""Notification events as plain dicts, built from what caused them (pure functions, no I/O).

Every event has a deterministic ``id`` (the sha256 of its type and what caused it), so an
event emitted again after a crash has the same id and a receiver can drop the repeat.
Numbers that JSON cannot carry (an infinite profit factor, NaN) become the strings
``"Infinity"``, ``"-Infinity"`` and ``"NaN"``, so every event is strict JSON.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gating.event_types import EVENT_TYPES
from gating.explain import reasons
from gating.rules import METRICS, Classification, ModelAssessment
from gating.run import ArchivedRun

__all__ = [
    "EVENT_TYPES",
    "Event",
    "champion_changed_event",
    "champion_data",
    "decision_events",
    "event_id",
    "events_of_runs",
    "file_rejected_event",
    "json_safe",
    "model_approved_event",
    "model_data",
    "model_dropped_event",
    "run_events",
    "sample_event",
    "timestamp_time",
]

Event = dict[str, Any]

EVENT_FORMAT = 1


def event_id(event_type: str, *cause: str) -> str:
    """The id of an event: sha256 of its type and the strings that identify its cause."""
    digest = hashlib.sha256("\x1f".join((event_type, *cause)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def timestamp_time(timestamp: str) -> str:
    """An archive timestamp (YYYYMMDDTHHMMSSffffffZ) as ISO 8601 UTC with microseconds."""
    t = timestamp
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[9:11]}:{t[11:13]}:{t[13:15]}.{t[15:21]}Z"


def _now_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(value: float | None) -> float | str | None:
    """A metric as strict JSON holds it: a non-finite float as a string."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def json_safe(value: Any) -> Any:
    """A copy of ``value`` where non-finite floats are strings (strict JSON can hold it)."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict | Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _event(
    event_type: str, cause: Sequence[str], time: str, data: Mapping[str, Any], *, safe: bool = False
) -> Event:
    """An event; ``safe`` says ``data`` holds no non-finite float (so it is not copied)."""
    return {
        "id": event_id(event_type, *cause),
        "type": event_type,
        "time": time,
        "format": EVENT_FORMAT,
        "data": data if safe else json_safe(data),
    }


def _advised_step(assessment: ModelAssessment) -> int | None:
    """The checkpoint step to restore, or None where no restore is advised (no
    FITNESS_DECLINE): a hook that read the step alone restored a checkpoint nobody advised."""
    return assessment.checkpoint_step if assessment.use_checkpoint else None


def model_data(run: ArchivedRun, assessment: ModelAssessment) -> dict[str, Any]:
    """What a receiver needs to act on one model of one run without calling back."""
    return {
        "timestamp": run.timestamp,
        "run_id": run.run_id,
        "symbol": assessment.symbol,
        "classification": str(assessment.classification),
        "metrics": {name: _number(assessment.metric(name)) for name in METRICS},
        "flags": [str(flag) for flag in assessment.flags],
        "reasons": reasons(assessment),  # the words review and explain use
        "use_checkpoint": assessment.use_checkpoint,
        "best_idx": assessment.best_idx,
        "checkpoint_step": _advised_step(assessment),
        "source": run.source,
    }


ChampionOf = Callable[[str], Mapping[str, Any] | None]


def _no_champion(symbol: str) -> Mapping[str, Any] | None:
    return None


def run_events(run: ArchivedRun, champion_of: ChampionOf = _no_champion) -> list[Event]:
    """The events of a newly archived run: run_archived, then per model in summary order
    review_needed (REVIEW), or model_approved and champion_changed (APPROVED by the gate:
    the newest approved model of a symbol is its champion). ``champion_of`` gives a
    symbol's champion before this run (a deployable-set entry), the event's ``previous``."""
    time = timestamp_time(run.timestamp)
    by_class: dict[str, list[str]] = {str(c): [] for c in Classification}
    for a in run.assessments:
        by_class[str(a.classification)].append(a.symbol)
    events = [
        _event(
            "run_archived",
            (run.timestamp,),
            time,
            {
                "timestamp": run.timestamp,
                "run_id": run.run_id,
                "created_at": run.created_at,
                "source": run.source,
                "sha256": run.sha256,
                "counts": {
                    "approved": run.approved_count,
                    "review": run.review_count,
                    "dropped": run.dropped_count,
                },
                "approved": by_class["APPROVED"],
                "review": by_class["REVIEW"],
                "dropped": by_class["DROP"],
                "models": [
                    {
                        "symbol": a.symbol,
                        "classification": str(a.classification),
                        **{name: _number(a.metric(name)) for name in METRICS},
                        "flags": [str(flag) for flag in a.flags],
                        "use_checkpoint": a.use_checkpoint,
                        "checkpoint_step": _advised_step(a),
                    }
                    for a in run.assessments
                ],
            },
            safe=True,
        )
    ]
    for a in run.assessments:
        cause = (run.timestamp, a.symbol)
        if a.classification is Classification.REVIEW:
            events.append(_event("review_needed", cause, time, model_data(run, a), safe=True))
        elif a.classification is Classification.APPROVED:
            model = model_data(run, a)
            verdict = {"verdict": "APPROVED", "by": "gate", "reason": None, "decision_id": None}
            events.append(_event("model_approved", cause, time, model | verdict, safe=True))
            data = champion_data(a.symbol, gate_champion(run, a), champion_of(a.symbol))
            events.append(_event("champion_changed", cause, time, data))
    return events


def gate_champion(run: ArchivedRun, assessment: ModelAssessment) -> dict[str, Any]:
    """A model the gate approved as a deployable-set entry (it is its symbol's champion)."""
    return {
        "timestamp": run.timestamp,
        "run_id": run.run_id,
        "verdict_by": "gate",
        "reason": None,
        **{name: assessment.metric(name) for name in METRICS},
        "use_checkpoint": assessment.use_checkpoint,
        "checkpoint_step": _advised_step(assessment),
    }


ChampionsOf = Callable[[Collection[str]], Mapping[str, Mapping[str, Any]]]


def events_of_runs(
    runs: Sequence[ArchivedRun], champions_of: ChampionsOf = lambda _symbols: {}
) -> list[Event]:
    """run_events of several runs, in order (a group commit's events): a symbol approved
    by an earlier run of the group is the ``previous`` of a later one; ``champions_of``
    gives the champions before the group of the symbols it approves, asked once."""
    approved = {
        a.symbol
        for run in runs
        for a in run.assessments
        if a.classification is Classification.APPROVED
    }
    earlier = champions_of(approved) if approved else {}
    newer: dict[str, Mapping[str, Any]] = {}

    def before(symbol: str) -> Mapping[str, Any] | None:
        return newer[symbol] if symbol in newer else earlier.get(symbol)

    events = []
    for run in runs:
        events.extend(run_events(run, before))
        for a in run.assessments:
            if a.classification is Classification.APPROVED:
                newer[a.symbol] = gate_champion(run, a)
    return events


# --- decisions (pure: wired in by `decide` when it exists) --------------------------------


def _decision_data(model: Mapping[str, Any], decision: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **model,
        "verdict": decision["verdict"],
        "by": decision["by"],
        "reason": decision["reason"],
        "decided_at": decision["decided_at"],
        "override": bool(decision.get("override", False)),
        "previous": decision.get("previous"),
        "decision_id": decision["id"],
    }


def model_approved_event(model: Mapping[str, Any], decision: Mapping[str, Any]) -> Event:
    """model_approved for a person's APPROVED decision.

    ``model`` is the model's data (timestamp, run_id, symbol, classification, metrics,
    flags, checkpoint_step...); ``decision`` has id, verdict, by, reason, decided_at and
    optionally previous and override. The id comes from the decision's id.
    """
    return _event(
        "model_approved",
        ("decision", str(decision["id"])),
        str(decision["decided_at"]),
        _decision_data(model, decision),
    )


def model_dropped_event(model: Mapping[str, Any], decision: Mapping[str, Any]) -> Event:
    """model_dropped for a person's DROP decision (same arguments as model_approved_event)."""
    return _event(
        "model_dropped",
        ("decision", str(decision["id"])),
        str(decision["decided_at"]),
        _decision_data(model, decision),
    )


def champion_data(
    symbol: str, champion: Mapping[str, Any] | None, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """champion_changed's data, one shape however the champion changed: ``symbol``,
    ``champion`` (its run's timestamp, or null when the symbol has none now), the
    champion's ``timestamp``, ``run_id``, ``metrics``, ``use_checkpoint``,
    ``checkpoint_step``, ``by`` (``gate`` or a name) and ``reason`` (all null when there
    is none), and ``previous``: the champion it replaced, in the same fields, or null.

    ``champion`` and ``previous`` are deployable-set entries (Champion.as_document()).
    """
    view = _champion_view(champion)
    return {"symbol": symbol, "champion": view["timestamp"], **view,
            "previous": None if previous is None else _champion_view(previous)}  # fmt: skip


def _champion_view(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """A deployable-set entry as champion_changed carries it (metrics grouped)."""
    found = entry or {}
    return {
        "timestamp": found.get("timestamp"),
        "run_id": found.get("run_id"),
        "metrics": {name: found.get(name) for name in METRICS},
        "use_checkpoint": bool(found.get("use_checkpoint")),
        "checkpoint_step": found.get("checkpoint_step"),
        "by": found.get("verdict_by"),
        "reason": found.get("reason"),
    }


def champion_changed_event(
    symbol: str,
    champion: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    *,
    cause: str,
    time: str,
) -> Event:
    """champion_changed: ``symbol``'s champion is now ``champion`` (None: it has none).

    ``champion`` and ``previous`` are deployable-set entries (see champion_data);
    ``cause`` identifies what changed it (a decision id), so the event's id is the same
    when it is emitted again.
    """
    return _event(
        "champion_changed", (symbol, cause), time, champion_data(symbol, champion, previous)
    )


def decision_events(
    model: Mapping[str, Any],
    decision: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    previous_champion: Mapping[str, Any] | None,
) -> list[Event]:
    """Every event one decision causes: model_approved or model_dropped, then
    champion_changed when the symbol's champion is not the one it was."""
    verdict = decision["verdict"]
    if verdict == "APPROVED":
        events = [model_approved_event(model, decision)]
    elif verdict == "DROP":
        events = [model_dropped_event(model, decision)]
    else:
        raise ValueError(f"verdict: {verdict!r} is not APPROVED or DROP")
    before = None if previous_champion is None else previous_champion.get("timestamp")
    after = None if champion is None else champion.get("timestamp")
    if before != after:
        events.append(
            champion_changed_event(
                str(model["symbol"]),
                champion,
                previous_champion,
                cause=f"decision:{decision['id']}",
                time=str(decision["decided_at"]),
            )
        )
    return events


def file_rejected_event(
    source: str, reason: str, sha256: str | None, *, time: str | None = None
) -> Event:
    """file_rejected: a watched file was not a valid summary (id from its path and bytes)."""
    return _event(
        "file_rejected",
        (source, sha256 or reason),
        time or _now_time(),
        {"source": source, "reason": reason, "sha256": sha256},
    )


def sample_event(event_type: str, *, time: str | None = None) -> Event:
    """A made-up event of ``event_type`` for `gatewatch notify test` (``data.test`` is true)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event: {event_type!r} is not one of {', '.join(EVENT_TYPES)}")
    time = time or _now_time()
    model = {
        "timestamp": "20250101T000000000000Z",
        "run_id": "gatewatch-test",
        "symbol": "TEST",
        "classification": "APPROVED" if event_type != "review_needed" else "REVIEW",
        "metrics": {
            "fitness": 0.75,
            "profit_factor": 1.9,
            "consistency": 0.88,
            "max_drawdown": 0.06,
        },
        "flags": [],
        "reasons": [] if event_type != "review_needed" else ["consistency 0.8 < 0.85"],
        "use_checkpoint": False,
        "best_idx": 2,
        "checkpoint_step": None,  # no restore advised
        "source": None,
    }
    data: dict[str, Any]
    if event_type == "run_archived":
        data = {
            "timestamp": model["timestamp"],
            "run_id": model["run_id"],
            "created_at": None,
            "source": None,
            "sha256": None,
            "counts": {"approved": 1, "review": 0, "dropped": 0},
            "approved": ["TEST"],
            "review": [],
            "dropped": [],
            "models": [],
        }
    elif event_type == "file_rejected":
        data = {"source": "test_summary.json", "reason": "gatewatch notify test", "sha256": None}
    elif event_type == "model_dropped":
        decision = {"id": "test", "verdict": "DROP", "by": "gatewatch", "reason": "notify test",
                    "decided_at": time, "previous": "APPROVED"}  # fmt: skip
        data = _decision_data(model, decision)
    elif event_type == "champion_changed":
        metrics: dict[str, float] = model["metrics"]  # type: ignore[assignment]
        entry = {**model, **metrics, "verdict_by": "gate", "reason": None}
        data = champion_data("TEST", entry, None)
    else:
        data = {**model, "verdict": "APPROVED", "by": "gate", "reason": None,
                "decision_id": None, "previous": None}  # fmt: skip
    data["test"] = True
    return _event(event_type, ("test", time), time, data)
