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
    ArchiveBusyError,
    ArchiveError,
    GatingConfigError,
    GatingError,
    ReindexCancelledError,
    RunNotFoundError,
    SummaryError,
)
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
    "PreparedRun",
    "ReindexCancelledError",
    "RunNotFoundError",
    "Summary",
    "SummaryError",
    "TrainingArchiveManager",
    "append_durably",
    "assess_model",
    "assess_model_quality",
    "parse_summary",
    "render_recommendations",
    "sparkline",
    "write_durably",
]
