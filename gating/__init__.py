"""gatewatch's gating library: rules, summary parsing, reports, the run archive and its events.

Names are loaded on first use (PEP 562): a process that only queries the catalog never
loads the gating, rendering and commit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gating.lazy import lazy_names

if TYPE_CHECKING:
    from gating.archive.commit import GROUP_SIZE, PreparedRun
    from gating.archive.disk import DISK, Disk
    from gating.archive.durable import append_durably, write_durably
    from gating.archive.lock import FileLock
    from gating.archive.manager import TrainingArchiveManager
    from gating.archive.outbox import Outbox
    from gating.champion import ChampionMetrics
    from gating.comparison import ChampionComparison
    from gating.errors import (
        AmbiguousTimestampError,
        ArchiveBusyError,
        ArchiveError,
        ArgumentError,
        DecisionConflictError,
        DecisionError,
        GatingConfigError,
        GatingError,
        IncompleteSummaryError,
        PushRefusedError,
        ReindexCancelledError,
        RunNotFoundError,
        SummaryError,
        SymbolNotFoundError,
        TimeFormatError,
    )
    from gating.event_types import EVENT_TYPES
    from gating.events import decision_events, file_rejected_event, run_events
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
    from gating.sending import PushResult, Spool, push
    from gating.summary import Summary, parse_summary
    from gating.verdicts import Champion, Decision, PendingReview

__all__ = [
    "DISK",
    "EVENT_TYPES",
    "GROUP_SIZE",
    "AmbiguousTimestampError",
    "ArchiveBusyError",
    "ArchiveError",
    "ArchivedRun",
    "ArgumentError",
    "Champion",
    "ChampionComparison",
    "ChampionMetrics",
    "Classification",
    "Decision",
    "DecisionConflictError",
    "DecisionError",
    "Disk",
    "FileLock",
    "Flag",
    "GatingConfigError",
    "GatingError",
    "IncompleteSummaryError",
    "ModelAssessment",
    "ModelGatingConfig",
    "ModelMetrics",
    "Outbox",
    "PendingReview",
    "PreparedRun",
    "PushRefusedError",
    "PushResult",
    "RegateChange",
    "RegateReport",
    "ReindexCancelledError",
    "RunNotFoundError",
    "Spool",
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
    "push",
    "reasons",
    "render_recommendations",
    "run_events",
    "sparkline",
    "write_durably",
]

_WHERE = {
    "AmbiguousTimestampError": "gating.errors",
    "ArchiveBusyError": "gating.errors",
    "ArchiveError": "gating.errors",
    "ArgumentError": "gating.errors",
    "ArchivedRun": "gating.run",
    "Champion": "gating.verdicts",
    "ChampionComparison": "gating.comparison",
    "ChampionMetrics": "gating.champion",
    "Classification": "gating.rules",
    "Decision": "gating.verdicts",
    "DecisionConflictError": "gating.errors",
    "DecisionError": "gating.errors",
    "EVENT_TYPES": "gating.event_types",
    "Disk": "gating.archive.disk",
    "FileLock": "gating.archive.lock",
    "Flag": "gating.rules",
    "GROUP_SIZE": "gating.archive.commit",
    "GatingConfigError": "gating.errors",
    "GatingError": "gating.errors",
    "IncompleteSummaryError": "gating.errors",
    "ModelAssessment": "gating.rules",
    "ModelGatingConfig": "gating.rules",
    "ModelMetrics": "gating.rules",
    "DISK": "gating.archive.disk",
    "Outbox": "gating.archive.outbox",
    "PendingReview": "gating.verdicts",
    "PushRefusedError": "gating.errors",
    "PushResult": "gating.sending",
    "Spool": "gating.sending",
    "PreparedRun": "gating.archive.commit",
    "RegateChange": "gating.regate",
    "RegateReport": "gating.regate",
    "ReindexCancelledError": "gating.errors",
    "RunNotFoundError": "gating.errors",
    "Summary": "gating.summary",
    "SummaryError": "gating.errors",
    "SymbolNotFoundError": "gating.errors",
    "TimeFormatError": "gating.errors",
    "TrainingArchiveManager": "gating.archive.manager",
    "append_durably": "gating.archive.durable",
    "assess_model": "gating.rules",
    "assess_model_quality": "gating.rules",
    "decision_events": "gating.events",
    "explain_checks": "gating.explain",
    "file_rejected_event": "gating.events",
    "parse_summary": "gating.summary",
    "push": "gating.sending",
    "reasons": "gating.explain",
    "render_recommendations": "gating.report",
    "run_events": "gating.events",
    "sparkline": "gating.report",
    "write_durably": "gating.archive.durable",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
