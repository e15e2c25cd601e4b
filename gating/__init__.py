"""gatewatch's gating library: rules, summary parsing, reports, the run archive and its events."""

from __future__ import annotations

from gating.archive import (
    GROUP_SIZE,
    PreparedRun,
    TrainingArchiveManager,
    append_durably,
    write_durably,
)
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
from gating.outbox import Outbox
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
    "ArchiveBusyError",
    "ArchiveError",
    "ArchivedRun",
    "Classification",
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
