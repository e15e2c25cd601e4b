"""Verdicts, pure: decisions on models, overrides, champions and the review queue."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gating.arguments import text
from gating.errors import DecisionError, shown
from gating.rules import METRICS, Classification

__all__ = [
    "DECISION_FORMAT",
    "MAX_BY_CHARS",
    "MAX_REASON_CHARS",
    "MAX_SEQ",
    "Champion",
    "Decision",
    "PendingReview",
    "check_decision",
    "check_request",
    "iso_from_micros",
    "micros_from_iso",
    "parse_verdict",
]

DECISION_FORMAT = 1
MAX_SEQ = 10**12 - 1  # a decision's sequence number: far beyond any desk, well inside SQLite's
MAX_REASON_CHARS = 10_000
MAX_BY_CHARS = 200

_VERDICTS = {
    "approve": Classification.APPROVED,
    "approved": Classification.APPROVED,
    "drop": Classification.DROP,
    "dropped": Classification.DROP,
}


# What each field of a decision file must be (text unless named here).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "seq": int,
    "override": bool,
    "run_id": (str, type(None)),
}
_FIELD_WORDS = {"seq": "a whole number", "override": "true or false", "run_id": "text or null"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // timedelta(
    microseconds=1
)


def iso_from_micros(micros: int) -> str:
    """A moment as fixed-width ISO 8601 UTC text (``2026-11-26T16:30:00.000000Z``), sortable."""
    seconds, micro = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)  # strftime's %Y gives year 999 three digits
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{micro:06d}Z"


def micros_from_iso(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 time (a time without zone is UTC).

    ValueError if it is not one, or if it falls outside years 1 to 9999 once in UTC
    (``9999-12-31T23:59:59-23:59``).
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if not _FIRST_MICROS <= micros <= _LAST_MICROS:
        raise ValueError(f"{text.strip()!r} is outside the years 1 to 9999 in UTC")
    return micros


def parse_verdict(verdict: object) -> Classification:
    """APPROVED or DROP from ``approve``/``drop`` (any case) or the class names."""
    text = str(verdict).strip().lower() if isinstance(verdict, str) else None
    if text is not None and text in _VERDICTS:
        return _VERDICTS[text]
    raise DecisionError(f"verdict: {shown(verdict)} is not approve or drop")


def check_request(timestamp: object, symbol: object, by: object, reason: object) -> None:
    """The texts of a decision as asked, before anything is looked up: text, no NUL, no
    lone surrogate (neither can be stored in a file or a database; DecisionError)."""
    for name, value in (
        ("timestamp", timestamp),
        ("symbol", symbol),
        ("by", by),
        ("reason", reason),
    ):
        text(name, value, DecisionError)


def _blank(text: str) -> bool:
    """Whether text shows nothing: spaces, controls and format characters only (a
    zero-width space or a lone ESC passed for a reason); an emoji newer than this
    Python's Unicode tables is something."""
    return all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text)


def check_decision(
    classification: str, verdict: Classification, *, by: str, reason: str, force: bool
) -> bool:
    """Validate a decision against the gate; return whether it overrides the gate.

    Deciding against an APPROVED or DROP gate is an override, refused unless forced.
    """
    if not isinstance(reason, str) or _blank(reason):
        raise DecisionError("reason: a decision needs a reason (it must not be blank)")
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise DecisionError(f"reason: at most {MAX_REASON_CHARS} characters")
    if not isinstance(by, str) or _blank(by):
        raise DecisionError("by: a decision needs a name (it must not be blank)")
    if len(by.strip()) > MAX_BY_CHARS:
        raise DecisionError(f"by: at most {MAX_BY_CHARS} characters")
    override = classification not in {Classification.REVIEW, verdict}
    if override and not force:
        raise DecisionError(
            f"the gate said {classification}: deciding {verdict} overrides it "
            "(use --force, or force=True, to override)"
        )
    return override


def _record_problem(fields: Mapping[str, Any]) -> str | None:
    """What is wrong with a decision file's fields, or None (see Decision.from_record)."""
    if not fields:
        return "not a JSON object"
    for name, value in fields.items():
        typed = isinstance(value, _FIELD_TYPES.get(name, str))
        if not typed or (isinstance(value, bool) and name != "override"):
            return f"{name}: {shown(value)} is not {_FIELD_WORDS.get(name, 'text')}"
    seq: int = fields["seq"]
    if not 1 <= seq <= MAX_SEQ:
        return f"seq: {seq if seq < 10**20 else 'a huge number'} is out of range"
    for name in ("verdict", "previous", "classification"):
        allowed = _VERDICTS.values() if name == "verdict" else set(Classification)
        if fields[name] not in allowed:
            return f"{name}: {shown(fields[name])} is not a verdict"
    try:
        micros = micros_from_iso(fields["decided_at"])
    except ValueError:
        return f"decided_at: {shown(fields['decided_at'])} is not a time of years 1 to 9999"
    if iso_from_micros(micros) != fields["decided_at"]:  # times are compared as text
        return (
            f"decided_at: {shown(fields['decided_at'])} is not written as gatewatch writes "
            "it (UTC, such as 2026-11-26T16:30:00.000000Z)"
        )
    if len(fields["reason"]) > MAX_REASON_CHARS or len(fields["by"]) > MAX_BY_CHARS:
        return "reason or by: longer than a decision allows"
    return None


_NOT_RECORDED = ("events", "unindexed")  # what a fresh decision tells, never in its file


@dataclass(frozen=True, slots=True)
class Decision:
    """One person's verdict on one model of one run; ``events`` and ``unindexed`` (a line
    saying the catalog could not take it yet, its file being kept) only on a fresh one."""

    seq: int
    timestamp: str
    symbol: str
    verdict: str
    previous: str
    classification: str
    override: bool
    by: str
    reason: str
    decided_at: str
    run_id: str | None = None
    events: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    unindexed: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The decision's file name stem: its decided_at stamp, then its sequence number."""
        stamp = self.decided_at.replace("-", "").replace(":", "").replace(".", "")
        return f"{stamp}-{self.seq:06d}"

    def to_record(self) -> dict[str, Any]:
        """The decision file's content."""
        return {
            "format": DECISION_FORMAT,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "symbol": self.symbol,
            "run_id": self.run_id,
            "verdict": self.verdict,
            "previous": self.previous,
            "classification": self.classification,
            "override": self.override,
            "by": self.by,
            "reason": self.reason,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_record(cls, record: object) -> Decision:
        """A decision from its file's content; ValueError (``not a decision: ...``) naming
        the first field missing, of the wrong type or out of range (a hand-edited file)."""
        fields: dict[str, Any] = (
            {k: record.get(k) for k in cls.__dataclass_fields__ if k not in _NOT_RECORDED}
            if isinstance(record, Mapping)
            else {}
        )
        problem = _record_problem(fields)
        if problem is not None:
            raise ValueError(f"not a decision: {problem}")
        return cls(**fields)

    def as_document(self) -> dict[str, Any]:
        """The audit trail's entry (as_audit), the name every record type shares."""
        return self.as_audit()

    def as_audit(self) -> dict[str, Any]:
        """The audit trail's entry (SPEC 8): timestamp, symbol, verdict, previous, override..."""
        return {
            "timestamp": self.timestamp,
            "symbol": self.symbol,
            "verdict": self.verdict,
            "previous": self.previous,
            "override": self.override,
            "by": self.by,
            "reason": self.reason,
            "decided_at": self.decided_at,
        }


@dataclass(frozen=True, slots=True)
class Champion:
    """A symbol's model in the newest run whose verdict is APPROVED, and how it got there."""

    symbol: str
    timestamp: str
    run_id: str | None
    model: Mapping[str, Any]  # the model's index fields: metrics, flags, checkpoint advice
    decision: Decision | None = None

    @property
    def verdict_by(self) -> str:
        """``gate``, or the name of whoever decided APPROVED."""
        return "gate" if self.decision is None else self.decision.by

    @property
    def checkpoint_step(self) -> int | None:
        """The step to restore, only where a restore is advised."""
        step: int | None = self.model.get("checkpoint_step")
        return step if self.model.get("use_checkpoint") else None

    def as_document(self) -> dict[str, Any]:
        """The deployable set's entry (SPEC 8)."""
        return {
            "timestamp": self.timestamp,
            "run_id": self.run_id,
            "verdict_by": self.verdict_by,
            "reason": None if self.decision is None else self.decision.reason,
            **{name: self.model.get(name) for name in METRICS},
            "use_checkpoint": bool(self.model.get("use_checkpoint")),
            "checkpoint_step": self.checkpoint_step,
        }


@dataclass(frozen=True, slots=True)
class PendingReview:
    """A REVIEW model no one has decided on yet, with what keeps it from APPROVED."""

    timestamp: str
    run_id: str | None
    symbol: str
    model: Mapping[str, Any]
    reasons: tuple[str, ...]

    def as_document(self) -> dict[str, Any]:
        """The review queue's entry (SPEC 8)."""
        return {
            "timestamp": self.timestamp,
            "run_id": self.run_id,
            "symbol": self.symbol,
            "classification": self.model.get("classification"),
            **{name: self.model.get(name) for name in METRICS},
            "reasons": list(self.reasons),
            "flags": [str(flag) for flag in self.model.get("flags") or ()],
        }
