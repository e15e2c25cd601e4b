"""Tests for the pure notification modules: bodies, signatures, headers and retry planning."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.notify.backoff import RetryPolicy, next_attempt, retry_delay
from daemon.notify.payloads import (
    SIGNATURE_HEADER,
    json_body,
    render_body,
    request_headers,
    sign,
    slack_body,
    slack_text,
    verify,
)
from gating import ModelGatingConfig
from gating.events import EVENT_TYPES, file_rejected_event, run_events, sample_event
from gating.run import gate_summary
from gating.summary import parse_summary
from tests.conftest import make_model


@given(st.binary(), st.binary(min_size=1))
def test_a_signature_verifies_and_a_changed_body_does_not(body: bytes, key: bytes) -> None:
    """sign/verify round-trip; one flipped byte or another key fails."""
    header = sign(body, key)
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert verify(body, key, header)
    assert not verify(body + b"x", key, header)
    assert not verify(body, key + b"x", header)


def test_signature_matches_a_known_value() -> None:
    """The HMAC-SHA256 of a known body and key (RFC 4231 test case 2)."""
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign(b"what do ya want for nothing?", b"Jefe") == f"sha256={expected}"


def test_headers_carry_the_id_and_the_signature_only_with_a_key() -> None:
    """Idempotency-Key is the event id; the signature header only when a key is given."""
    event = sample_event("run_archived")
    body = json_body(event)
    headers = request_headers(event, body, None)
    assert headers["Idempotency-Key"] == event["id"]
    assert headers["X-Gatewatch-Event"] == "run_archived"
    assert SIGNATURE_HEADER not in headers
    signed = request_headers(event, body, b"k")
    assert verify(body, b"k", signed[SIGNATURE_HEADER])


def test_json_body_is_the_event_as_strict_json() -> None:
    """The json format sends the event itself."""
    event = sample_event("model_approved")
    assert json.loads(json_body(event)) == event
    assert render_body(event, "json") == json_body(event)
    with pytest.raises(ValueError, match="format"):
        render_body(event, "xml")


def _run_event(kind: str) -> dict[str, object]:
    models = {
        "AAPL": make_model(pf=math.inf, history=[0.7, 0.82, 0.75]),
        "MSFT": make_model(0.6, 1.5, 0.8, 0.07),
        "TSLA": make_model(0.3),
    }
    run = gate_summary(
        parse_summary({"run_id": "ppo-a", "validation_interval": 1000, "models": models}),
        ModelGatingConfig(),
        "20260101T120000000000Z",
    )
    return next(e for e in run_events(run) if e["type"] == kind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "run_archived",
            "gatewatch: run ppo-a (20260101T120000000000Z) archived: "
            "1 APPROVED (AAPL), 1 REVIEW (MSFT), 1 DROP (TSLA)",
        ),
        (
            "model_approved",
            "gatewatch: *AAPL* APPROVED by the gate, run ppo-a (20260101T120000000000Z): "
            "fitness 0.75, PF Infinity, consistency 0.88, max DD 0.06; "
            "restore checkpoint step 2000",
        ),
        (
            "review_needed",
            "gatewatch: *MSFT* needs review, run ppo-a (20260101T120000000000Z): "
            "fitness 0.6, PF 1.5, consistency 0.8, max DD 0.07\n"
            "short of APPROVED: fitness 0.60 &lt; 0.70; profit_factor 1.50 &lt; 1.80; "
            "consistency 0.80 &lt; 0.85",  # Slack shows &lt; as <
        ),
        (
            "champion_changed",
            "gatewatch: *AAPL* champion is now run ppo-a (20260101T120000000000Z): "
            "fitness 0.75, PF Infinity, consistency 0.88, max DD 0.06; "
            "restore checkpoint step 2000",
        ),
    ],
)
def test_slack_text_sums_up_a_run_event(kind: str, expected: str) -> None:
    """Symbol, class, key metrics and checkpoint advice in one readable message."""
    assert slack_text(_run_event(kind)) == expected


def test_slack_body_escapes_text_from_files_and_has_no_links() -> None:
    """<, > and & from a file name are escaped: a source cannot inject a Slack link."""
    event = file_rejected_event("in/<http://evil|x>&.json", "not JSON", None)
    document = json.loads(slack_body(event))
    assert "<" not in document["text"]
    assert "&lt;http://evil|x&gt;&amp;.json" in document["text"]
    assert document["blocks"][0]["text"]["text"] == document["text"]


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_sample_renders_for_slack(kind: str) -> None:
    """Every event type has a Slack message naming it a test."""
    document = json.loads(render_body(sample_event(kind), "slack"))
    assert document["text"].startswith("gatewatch: ")
    assert "(test)" in document["text"]


POLICY = RetryPolicy(max_attempts=5, max_age_seconds=100.0, initial_seconds=1.0, max_seconds=8.0)


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (10**9, 8.0)],
)
def test_retry_delay_doubles_up_to_the_cap(attempts: int, delay: float) -> None:
    """1, 2, 4, 8, 8... seconds."""
    assert retry_delay(attempts, POLICY) == delay


@pytest.mark.parametrize(
    ("attempts", "first", "now", "expected"),
    [
        (1, 0.0, 0.0, 1.0),
        (3, 0.0, 10.0, 14.0),
        (5, 0.0, 10.0, None),  # max_attempts reached
        (2, 0.0, 99.0, None),  # the next attempt would come after max_age
        (2, 0.0, 98.0, 100.0),
    ],
)
def test_next_attempt_gives_up_after_max_attempts_or_max_age(
    attempts: int, first: float, now: float, expected: float | None
) -> None:
    """None means the event is kept aside as failed."""
    assert next_attempt(attempts, first, now, POLICY) == expected


@given(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0.001, max_value=1e6),
    st.floats(min_value=0.001, max_value=1e6),
    st.floats(min_value=1.0, max_value=10.0),
)
def test_backoff_is_monotone_and_capped(
    attempts: int, initial: float, cap: float, factor: float
) -> None:
    """The delay never shrinks as attempts grow and never exceeds the cap."""
    policy = RetryPolicy(initial_seconds=initial, max_seconds=cap, factor=factor)
    now, later = retry_delay(attempts, policy), retry_delay(attempts + 1, policy)
    assert 0 <= now <= later <= cap
