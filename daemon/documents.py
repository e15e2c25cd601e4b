"""The JSON documents the CLI's ``--json`` prints, built from manager results (pure).

The dashboard serves the very same documents for the same queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gating.explain import reasons
from gating.run import ArchivedRun
from gating.verdicts import Champion, Decision, PendingReview

__all__ = [
    "assess_document",
    "audit_document",
    "decision_document",
    "deployable_document",
    "review_document",
]


def assess_document(run: ArchivedRun) -> list[dict[str, Any]]:
    """``assess``: each model's record (every metric with both bounds and its band) and reasons."""
    models = run.to_record()["models"]
    return [
        {**model, "reasons": reasons(a)} for model, a in zip(models, run.assessments, strict=True)
    ]


def review_document(queue: Sequence[PendingReview]) -> list[dict[str, Any]]:
    """``review``: models awaiting review, newest first, each with its reasons."""
    return [item.as_document() for item in queue]


def deployable_document(champions: Mapping[str, Champion]) -> dict[str, dict[str, Any]]:
    """``deployable``: every symbol's champion, keyed by symbol."""
    return {symbol: champion.as_document() for symbol, champion in champions.items()}


def audit_document(decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    """``audit``: every decision, oldest first."""
    return [decision.as_audit() for decision in decisions]


def decision_document(decision: Decision) -> dict[str, Any]:
    """``decide``: the decision as the audit trail lists it, and the events it caused."""
    return {**decision.as_audit(), "events": list(decision.events)}
