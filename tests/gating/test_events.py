"""Tests for gating.events: which events a run, a decision or a rejection makes, and their ids."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating import ModelGatingConfig
from gating.events import (
    EVENT_TYPES,
    champion_changed_event,
    decision_events,
    event_id,
    events_of_runs,
    file_rejected_event,
    json_safe,
    model_approved_event,
    model_data,
    model_dropped_event,
    run_events,
    sample_event,
    timestamp_time,
)
from gating.run import ArchivedRun, gate_summary
from gating.summary import parse_summary
from tests.conftest import make_model, make_summary

STAMP = "20260101T120000123456Z"


def gated(summary: dict[str, Any], stamp: str = STAMP) -> ArchivedRun:
    """A summary gated under the default config at ``stamp``."""
    return gate_summary(parse_summary(summary), ModelGatingConfig(), stamp, "in/a_summary.json")


@pytest.mark.parametrize(
    ("models", "types"),
    [
        ({"A": make_model()}, ["run_archived", "model_approved", "champion_changed"]),
        ({"A": make_model(0.6, 1.5, 0.7, 0.1)}, ["run_archived", "review_needed"]),
        ({"A": make_model(0.3, 1.0, 0.5, 0.2)}, ["run_archived"]),
        ({"A": make_model(None)}, ["run_archived"]),
        (
            {"A": make_model(0.6, 1.5, 0.7, 0.1), "B": make_model()},
            ["run_archived", "review_needed", "model_approved", "champion_changed"],
        ),
    ],
    ids=["approved", "review", "drop", "missing", "review-then-approved"],
)
def test_a_run_makes_one_event_per_fact(models: dict[str, Any], types: list[str]) -> None:
    """run_archived always, review_needed per REVIEW model, approved + champion per APPROVED."""
    events = run_events(gated({"run_id": "r", "models": models}))
    assert [e["type"] for e in events] == types


def test_event_fields_let_a_receiver_act_without_calling_back() -> None:
    """Symbol, run timestamp and run_id, metrics, verdict, by and checkpoint step are there."""
    summary = make_summary("ppo-a", 2)
    summary["models"]["SYM0"]["fitness_history"] = [0.7, 0.82, 0.75]
    events = run_events(gated(summary))
    approved = next(e for e in events if e["type"] == "model_approved")
    assert approved["time"] == "2026-01-01T12:00:00.123456Z"
    data = approved["data"]
    assert data["symbol"] == "SYM0"
    assert (data["timestamp"], data["run_id"]) == (STAMP, "ppo-a")
    assert data["metrics"] == {
        "fitness": 0.75,
        "profit_factor": 1.9,
        "consistency": 0.88,
        "max_drawdown": 0.06,
    }
    assert (data["verdict"], data["by"]) == ("APPROVED", "gate")
    assert data["checkpoint_step"] == 2000
    assert data["use_checkpoint"] is True
    review = next(e for e in events if e["type"] == "review_needed")
    assert review["data"]["reasons"] == [
        "fitness 0.60 < 0.70",
        "profit_factor 1.50 < 1.80",
        "consistency 0.70 < 0.85",
        "max_drawdown 0.10 > 0.08",
    ]  # the words `gatewatch review` and a decision's events use
    archived = events[0]
    assert archived["data"]["counts"] == {"approved": 1, "review": 1, "dropped": 0}
    assert archived["data"]["approved"] == ["SYM0"]
    assert archived["data"]["source"] == "in/a_summary.json"


@pytest.mark.parametrize(
    ("history", "step"),
    [([0.6, 0.7, 0.75], None), ([0.7, 0.82, 0.75], 2000)],
    ids=["rising: no restore advised", "declined: restore step 2000"],
)
def test_every_event_gives_the_checkpoint_step_only_where_a_restore_is_advised(
    history: list[float | None], step: int | None
) -> None:
    """run_archived's model, model_approved, champion_changed and a decision's model_dropped
    agree: the step where FITNESS_DECLINE advises a restore, else null (the gate's events
    gave the best step always, champion_changed null: a hook restored what nobody advised)."""
    run = gated(
        {"run_id": "r", "validation_interval": 1000, "models": {"A": make_model(history=history)}}
    )
    events = {e["type"]: e["data"] for e in run_events(run)}
    (archived,) = events["run_archived"]["models"]
    decision = {"id": "d1", "verdict": "DROP", "by": "ana", "reason": "r", "decided_at": "t"}
    (dropped,) = decision_events(model_data(run, run.assessments[0]), decision, None, None)[:1]
    seen = [archived, events["model_approved"], events["champion_changed"], dropped["data"]]
    assert [(d["use_checkpoint"], d["checkpoint_step"]) for d in seen] == [
        (step is not None, step)
    ] * 4


def test_ids_are_unique_and_the_same_when_emitted_again() -> None:
    """Every id differs within a run, and gating the same run again gives the same ids."""
    first = run_events(gated(make_summary("r", 6)))
    again = run_events(gated(make_summary("r", 6)))
    ids = [e["id"] for e in first]
    assert len(set(ids)) == len(ids)
    assert ids == [e["id"] for e in again]
    later = run_events(gated(make_summary("r", 6), "20260101T120000123457Z"))
    assert not set(ids) & {e["id"] for e in later}


def test_infinite_and_missing_metrics_are_strict_json() -> None:
    """An infinite profit factor is the string Infinity; the body parses without NaN support."""
    run = gated({"models": {"A": make_model(pf=math.inf), "B": make_model(fitness=math.nan)}})
    for event in run_events(run):
        text = json.dumps(event, allow_nan=False)
        assert json.loads(text) == event
    approved = next(e for e in run_events(run) if e["type"] == "model_approved")
    assert approved["data"]["metrics"]["profit_factor"] == "Infinity"


@given(st.recursive(st.floats() | st.integers() | st.text() | st.none(), st.lists, max_leaves=20))
def test_json_safe_always_gives_strict_json(value: Any) -> None:
    """Whatever the floats, json_safe's result is strict JSON."""
    json.dumps(json_safe(value), allow_nan=False)


def test_event_id_is_the_sha256_of_its_cause() -> None:
    """Different causes give different ids; a separator keeps ('ab','c') apart from ('a','bc')."""
    assert event_id("t", "ab", "c") != event_id("t", "a", "bc")
    assert event_id("t", "a") == event_id("t", "a")
    assert len(event_id("t", "a")) == 64
    assert timestamp_time(STAMP) == "2026-01-01T12:00:00.123456Z"


MODEL = {
    "timestamp": STAMP,
    "run_id": "r",
    "symbol": "AAPL",
    "classification": "REVIEW",
    "metrics": {"fitness": 0.6, "profit_factor": 1.5, "consistency": 0.7, "max_drawdown": 0.1},
    "checkpoint_step": 3000,
}
DECISION = {
    "id": "d-1",
    "verdict": "APPROVED",
    "by": "alice",
    "reason": "looks fine",
    "decided_at": "2026-01-02T09:00:00Z",
}


@pytest.mark.parametrize(
    ("verdict", "before", "after", "types"),
    [
        ("APPROVED", None, {"timestamp": STAMP}, ["model_approved", "champion_changed"]),
        ("APPROVED", {"timestamp": STAMP}, {"timestamp": STAMP}, ["model_approved"]),
        ("DROP", {"timestamp": STAMP}, None, ["model_dropped", "champion_changed"]),
        (
            "DROP",
            {"timestamp": STAMP},
            {"timestamp": "2025"},
            ["model_dropped", "champion_changed"],
        ),
        ("DROP", None, None, ["model_dropped"]),
    ],
    ids=["approve-new", "approve-same", "drop-champion", "drop-fallback", "drop-other"],
)
def test_decision_events(
    verdict: str, before: dict[str, Any] | None, after: dict[str, Any] | None, types: list[str]
) -> None:
    """A decision makes approved/dropped, plus champion_changed when the champion moved."""
    decision = {**DECISION, "verdict": verdict}
    events = decision_events(MODEL, decision, after, before)
    assert [e["type"] for e in events] == types
    assert events[0]["data"]["by"] == "alice"
    assert events[0]["data"]["reason"] == "looks fine"
    assert events[0]["time"] == "2026-01-02T09:00:00Z"
    assert decision_events(MODEL, decision, after, before) == events  # same ids again


def test_decision_event_ids_come_from_the_decision() -> None:
    """Two decisions on the same model have different ids; the same decision the same."""
    first = model_approved_event(MODEL, DECISION)
    second = model_approved_event(MODEL, {**DECISION, "id": "d-2"})
    assert first["id"] != second["id"]
    assert model_dropped_event(MODEL, DECISION)["id"] != first["id"]
    changed = champion_changed_event("AAPL", None, {"timestamp": STAMP}, cause="d-1", time="t")
    assert changed["data"]["champion"] is None
    assert changed["data"]["previous"]["timestamp"] == STAMP
    with pytest.raises(ValueError, match="verdict"):
        decision_events(MODEL, {**DECISION, "verdict": "MAYBE"}, None, None)


def test_file_rejected_event_id_depends_on_path_and_bytes() -> None:
    """The same file rejected again (after a crash) has the same id; other bytes another."""
    first = file_rejected_event("in/x.json", "not JSON", "abc")
    assert first["id"] == file_rejected_event("in/x.json", "not JSON", "abc")["id"]
    assert first["id"] != file_rejected_event("in/x.json", "not JSON", "abd")["id"]
    assert first["data"] == {"source": "in/x.json", "reason": "not JSON", "sha256": "abc"}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_event_of_every_type(event_type: str) -> None:
    """notify test's samples exist for every type and say they are tests."""
    event = sample_event(event_type)
    assert event["type"] == event_type
    assert event["data"]["test"] is True
    json.dumps(event, allow_nan=False)


def test_sample_event_rejects_unknown_types() -> None:
    """An unknown type is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="run_archived"):
        sample_event("nope")


def test_champion_changed_has_one_shape_and_names_the_champion_it_replaced(tmp_path: Any) -> None:
    """Gate approvals and decisions send champion_changed in one shape, with the real
    ``previous`` (the earlier approved run, then the run a drop falls back from)."""
    from daemon.notify.payloads import slack_text
    from gating import Outbox, TrainingArchiveManager

    outbox = Outbox(tmp_path / "a" / "outbox")
    archive = TrainingArchiveManager(tmp_path / "a", outbox=outbox)
    first = archive.archive_training_run(make_summary("a")).timestamp
    second = archive.archive_training_run(make_summary("b")).timestamp
    archive.decide(second, "SYM0", "drop", by="ann", reason="regime change", force=True)
    changed = [
        event["data"]
        for name in outbox.segments()
        for event in outbox.read_segment(name)
        if event["type"] == "champion_changed" and event["data"]["symbol"] == "SYM0"
    ]
    assert [(d["champion"], (d["previous"] or {}).get("timestamp")) for d in changed] == [
        (first, None),
        (second, first),
        (first, second),
    ]
    assert len({tuple(sorted(d)) for d in changed}) == 1
    assert {tuple(sorted(d["previous"])) for d in changed[1:]} == {
        tuple(sorted(set(changed[0]) - {"symbol", "champion", "previous"}))
    }
    assert changed[2]["metrics"]["fitness"] == changed[0]["metrics"]["fitness"] == 0.75
    assert (changed[1]["by"], changed[2]["by"]) == ("gate", "gate")
    decided = {"type": "champion_changed", "data": changed[2]}
    assert "fitness 0.75" in slack_text(decided)
    archive.close()


def test_a_groups_champions_before_it_are_asked_once_for_the_symbols_it_approves() -> None:
    """events_of_runs asks for the champions of the approved symbols once; a symbol the
    group approved earlier is the previous of a later run's, not the one asked for."""
    asked: list[set[str]] = []

    def champions_of(symbols: Collection[str]) -> dict[str, dict[str, Any]]:
        asked.append(set(symbols))
        return {symbol: {"timestamp": "before", "run_id": "old"} for symbol in symbols}

    first = gated(make_summary("a", 3), "20260101T120000123456Z")
    second = gated(make_summary("b", 3), "20260101T120000123457Z")
    events = events_of_runs([first, second], champions_of)
    assert asked == [{"SYM0"}]  # the one model of make_summary's three the gate approves
    changed = [e["data"] for e in events if e["type"] == "champion_changed"]
    assert [c["previous"]["timestamp"] for c in changed] == ["before", first.timestamp]
