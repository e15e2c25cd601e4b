"""gatewatch's gating library: rules, summary parsing, reports and the run archive."""

from __future__ import annotations

from gating.archive import (
    GROUP_SIZE,
    NO_FAULTS,
    Faults,
    FileLock,
    PreparedRun,
    TrainingArchiveManager,
    append_durably,
    write_durably,
)
from gating.errors import (
    AmbiguousTimestampError,
    ArchiveBusyError,
    ArchiveError,
    DecisionError,
    GatingConfigError,
    GatingError,
    ReindexCancelledError,
    RunNotFoundError,
    SummaryError,
    SymbolNotFoundError,
    TimeFormatError,
)
from gating.explain import explain_checks, reasons
from gating.report import render_recommendations, sparkline
from gating.rules import (
    Classification,
    Flag,
    ModelAssessment,
    ModelGatingConfig,
    ModelMetrics,
    assess_model,
    assess_model_quality,
)
from gating.run import ArchivedRun
from gating.summary import Summary, parse_summary
from gating.verdicts import Champion, Decision, PendingReview, decision_events

__all__ = [
    "GROUP_SIZE",
    "NO_FAULTS",
    "AmbiguousTimestampError",
    "ArchiveBusyError",
    "ArchiveError",
    "ArchivedRun",
    "Champion",
    "Classification",
    "Decision",
    "DecisionError",
    "Faults",
    "FileLock",
    "Flag",
    "GatingConfigError",
    "GatingError",
    "ModelAssessment",
    "ModelGatingConfig",
    "ModelMetrics",
    "PendingReview",
    "PreparedRun",
    "ReindexCancelledError",
    "RunNotFoundError",
    "Summary",
    "SummaryError",
    "SymbolNotFoundError",
    "TimeFormatError",
    "TrainingArchiveManager",
    "append_durably",
    "assess_model",
    "assess_model_quality",
    "decision_events",
    "explain_checks",
    "parse_summary",
    "reasons",
    "render_recommendations",
    "sparkline",
    "write_durably",
]
