"""gatewatch's gating library: rules, summary parsing, reports, the run archive and its events."""

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
from gating.archive.outbox import Outbox
from gating.champion import ChampionMetrics
from gating.comparison import ChampionComparison
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
from gating.events import EVENT_TYPES, decision_events, file_rejected_event, run_events
from gating.explain import explain_checks, reasons
from gating.regate import RegateChange, RegateReport
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
from gating.verdicts import Champion, Decision, PendingReview

__all__ = [
    "EVENT_TYPES",
    "GROUP_SIZE",
    "NO_FAULTS",
    "AmbiguousTimestampError",
    "ArchiveBusyError",
    "ArchiveError",
    "ArchivedRun",
    "Champion",
    "ChampionComparison",
    "ChampionMetrics",
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
    "Outbox",
    "PendingReview",
    "PreparedRun",
    "RegateChange",
    "RegateReport",
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
    "file_rejected_event",
    "parse_summary",
    "reasons",
    "render_recommendations",
    "run_events",
    "sparkline",
    "write_durably",
]
