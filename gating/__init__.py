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
from gating.errors import (
    ArchiveBusyError,
    ArchiveError,
    GatingConfigError,
    GatingError,
    ReindexCancelledError,
    RunNotFoundError,
    SummaryError,
)
from gating.events import EVENT_TYPES, decision_events, file_rejected_event, run_events
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

__all__ = [
    "EVENT_TYPES",
    "GROUP_SIZE",
    "NO_FAULTS",
    "ArchiveBusyError",
    "ArchiveError",
    "ArchivedRun",
    "Classification",
    "Faults",
    "FileLock",
    "Flag",
    "GatingConfigError",
    "GatingError",
    "ModelAssessment",
    "ModelGatingConfig",
    "ModelMetrics",
    "Outbox",
    "PreparedRun",
    "ReindexCancelledError",
    "RunNotFoundError",
    "Summary",
    "SummaryError",
    "TrainingArchiveManager",
    "append_durably",
    "assess_model",
    "assess_model_quality",
    "decision_events",
    "file_rejected_event",
    "parse_summary",
    "render_recommendations",
    "run_events",
    "sparkline",
    "write_durably",
]
