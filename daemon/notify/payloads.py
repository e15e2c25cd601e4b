"""What a receiver gets (pure): the JSON or Slack body, the headers and the HMAC signature."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FORMATS",
    "SIGNATURE_HEADER",
    "json_body",
    "render_body",
    "request_headers",
    "sign",
    "slack_body",
    "slack_text",
    "verify",
]

FORMATS = ("json", "slack")
SIGNATURE_HEADER = "X-Gatewatch-Signature"
USER_AGENT = "gatewatch-notify/1"

Event = Mapping[str, Any]


def json_body(event: Event) -> bytes:
    """The event itself as compact, strict JSON (UTF-8): what a json webhook and a
    command receive."""
    return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def sign(body: bytes, key: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    import hashlib  # noqa: PLC0415 - OpenSSL loads in 3 ms: only when a target is signed
    import hmac  # noqa: PLC0415

    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, key: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``key`` (what a receiver does)."""
    import hmac  # noqa: PLC0415 - see sign

    return hmac.compare_digest(sign(body, key), header)


def _escape(text: object) -> str:
    """Text from a file as Slack shows it literally (&, < and > are its markup)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "missing"
    if isinstance(value, int | float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return _escape(value)  # "Infinity" / "NaN" as the events carry them


def _metrics(data: Mapping[str, Any]) -> str:
    metrics = data.get("metrics") or {}
    labels = (
        ("fitness", "fitness"),
        ("PF", "profit_factor"),
        ("consistency", "consistency"),
        ("max DD", "max_drawdown"),
    )
    return ", ".join(f"{label} {_number(metrics.get(key))}" for label, key in labels)


def _run(data: Mapping[str, Any]) -> str:
    run_id = data.get("run_id")
    stamp = _escape(data.get("timestamp"))
    return f"run {_escape(run_id)} ({stamp})" if run_id else f"run {stamp}"


def _checkpoint(data: Mapping[str, Any]) -> str:
    if data.get("use_checkpoint") and data.get("checkpoint_step") is not None:
        return f"; restore checkpoint step {data['checkpoint_step']}"
    return ""


def _by(data: Mapping[str, Any]) -> str:
    by = data.get("by")
    if by in (None, "gate"):
        return "by the gate"
    reason = data.get("reason")
    return f"by {_escape(by)}" + (f": {_escape(reason)}" if reason else "")


def slack_text(event: Event) -> str:
    """One readable line or two summing up the event (symbol, class, key metrics)."""
    kind = event.get("type")
    data: Mapping[str, Any] = event.get("data") or {}
    symbol = f"*{_escape(data.get('symbol'))}*"
    test = " (test)" if data.get("test") else ""
    if kind == "run_archived":
        counts = data.get("counts") or {}
        parts = []
        for label, key, names in (
            ("APPROVED", "approved", "approved"),
            ("REVIEW", "review", "review"),
            ("DROP", "dropped", "dropped"),
        ):
            symbols = ", ".join(_escape(s) for s in data.get(names) or [])
            parts.append(f"{counts.get(key, 0)} {label}" + (f" ({symbols})" if symbols else ""))
        text = f"gatewatch: {_run(data)} archived{test}: " + ", ".join(parts)
    elif kind == "review_needed":
        reasons = "; ".join(_escape(r) for r in data.get("reasons") or [])
        text = f"gatewatch: {symbol} needs review{test}, {_run(data)}: {_metrics(data)}"
        text += f"\nshort of APPROVED: {reasons}" if reasons else ""
    elif kind == "model_approved":
        text = (
            f"gatewatch: {symbol} APPROVED {_by(data)}{test}, {_run(data)}: "
            f"{_metrics(data)}{_checkpoint(data)}"
        )
    elif kind == "model_dropped":
        text = f"gatewatch: {symbol} DROPPED {_by(data)}{test}, {_run(data)}: {_metrics(data)}"
    elif kind == "champion_changed":
        previous = data.get("previous")
        if data.get("timestamp") is None:
            now = "has no champion now"
        else:
            now = f"champion is now {_run(data)}: {_metrics(data)}{_checkpoint(data)}"
        text = f"gatewatch: {symbol} {now}{test}"
        if isinstance(previous, Mapping) and previous.get("timestamp"):
            text += f" (was {_run(previous)})"
    elif kind == "file_rejected":
        text = (
            f"gatewatch: file rejected{test}: {_escape(data.get('source'))}: "
            f"{_escape(data.get('reason'))}"
        )
    else:
        text = f"gatewatch: {_escape(kind)} event{test}"
    return text


def slack_body(event: Event) -> bytes:
    """A Slack incoming-webhook body: ``text`` (also the notification's fallback) and a
    ``blocks`` section with the same text and a context line naming the event."""
    text = slack_text(event)
    document = {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{_escape(event.get('type'))} · id {str(event.get('id'))[:12]}",
                    }
                ],
            },
        ],
    }
    return json.dumps(document, ensure_ascii=False, allow_nan=False).encode()


def render_body(event: Event, fmt: str) -> bytes:
    """The body for a target's ``format`` (json or slack)."""
    if fmt == "slack":
        return slack_body(event)
    if fmt == "json":
        return json_body(event)
    raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")


def request_headers(event: Event, body: bytes, key: bytes | None) -> dict[str, str]:
    """The HTTP headers of a delivery: type, event, Idempotency-Key and the signature."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": str(event.get("id")),
        "X-Gatewatch-Event": str(event.get("type")),
    }
    if key is not None:
        headers[SIGNATURE_HEADER] = sign(body, key)
    return headers
