"""A gated run: its identity, per-model assessments, and their JSON records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gating.comparison import ChampionComparison
from gating.rules import (
    METRICS,
    Band,
    Classification,
    Flag,
    MetricCheck,
    ModelAssessment,
    ModelGatingConfig,
    assess_model,
    checked_history,
)
from gating.summary import Summary

__all__ = [
    "RECORD_FORMAT",
    "ArchivedRun",
    "assessment_from_record",
    "gate_models",
    "gate_summary",
    "index_entry",
    "run_from_record",
]

RECORD_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ArchivedRun:
    """One run's gating result; ``path`` is its archive folder once archived."""

    timestamp: str
    assessments: tuple[ModelAssessment, ...]
    config: ModelGatingConfig
    sha256: str
    run_id: str | None = None
    created_at: str | None = None
    validation_interval: int | None = None
    reward_scale: float | None = None
    source: str | None = None
    path: Path | None = None
    duplicate: bool = False

    def _count(self, classification: Classification) -> int:
        return sum(1 for a in self.assessments if a.classification is classification)

    @property
    def approved_count(self) -> int:
        """How many models were APPROVED."""
        return self._count(Classification.APPROVED)

    @property
    def review_count(self) -> int:
        """How many models need a REVIEW."""
        return self._count(Classification.REVIEW)

    @property
    def dropped_count(self) -> int:
        """How many models were DROPped."""
        return self._count(Classification.DROP)

    @property
    def approved(self) -> list[str]:
        """Symbols APPROVED in this run, in summary order."""
        return [a.symbol for a in self.assessments if a.classification is Classification.APPROVED]

    def to_record(self) -> dict[str, Any]:
        """The content of model_assessments.json: enough to re-check the run later."""
        return {
            "format": RECORD_FORMAT,
            "timestamp": self.timestamp,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "source": self.source,
            "summary_sha256": self.sha256,
            "validation_interval": self.validation_interval,
            "reward_scale": self.reward_scale,
            "config": self.config.as_table(),
            "counts": {
                "APPROVED": self.approved_count,
                "REVIEW": self.review_count,
                "DROP": self.dropped_count,
            },
            "models": [_assessment_record(a) for a in self.assessments],
        }


def _assessment_record(a: ModelAssessment) -> dict[str, Any]:
    record = {
        "symbol": a.symbol,
        "classification": str(a.classification),
        "flags": [str(flag) for flag in a.flags],
        "use_checkpoint": a.use_checkpoint,
        "best_idx": a.best_idx,
        "checkpoint_step": a.checkpoint_step,
        "metrics": {
            name: {
                "value": check.value,
                "approved_threshold": check.approved,
                "review_threshold": check.review,
                "band": str(check.band),
            }
            for name, check in a.checks.items()
        },
        "fitness_history": list(a.fitness_history),
    }
    if a.champion is not None:  # only with a champion table: older records lack the key
        record["champion"] = a.champion.to_record()
    return record


def gate_models(summary: Summary, config: ModelGatingConfig) -> tuple[ModelAssessment, ...]:
    """Assess every model of a summary under one config (its metrics are already valid)."""
    interval = summary.validation_interval
    return tuple(assess_model(model, config, interval, validated=True) for model in summary.models)


def gate_summary(
    summary: Summary,
    config: ModelGatingConfig,
    timestamp: str,
    source: str | None = None,
    assessments: tuple[ModelAssessment, ...] | None = None,
) -> ArchivedRun:
    """A run of a summary: its models assessed under one config (or as already assessed)."""
    return ArchivedRun(
        timestamp=timestamp,
        assessments=gate_models(summary, config) if assessments is None else assessments,
        config=config,
        sha256=summary.sha256,
        run_id=summary.run_id,
        created_at=summary.created_at,
        validation_interval=summary.validation_interval,
        reward_scale=summary.reward_scale,
        source=source,
    )


def assessment_from_record(model: Mapping[str, Any]) -> ModelAssessment:
    """One model's assessment from its object in model_assessments.json."""
    return ModelAssessment(
        symbol=model["symbol"],
        classification=Classification(model["classification"]),
        flags=tuple(Flag(flag) for flag in model["flags"]),
        use_checkpoint=model["use_checkpoint"],
        best_idx=model["best_idx"],
        checkpoint_step=model["checkpoint_step"],
        checks={
            name: MetricCheck(
                value=model["metrics"][name]["value"],
                approved=model["metrics"][name]["approved_threshold"],
                review=model["metrics"][name]["review_threshold"],
                band=Band(model["metrics"][name]["band"]),
            )
            for name in METRICS
        },
        # Checked: a record edited by hand may hold anything (a string made the page a 500).
        fitness_history=checked_history(model["fitness_history"]),
        champion=_comparison(model.get("champion")),
    )


def run_from_record(record: Mapping[str, Any], path: Path | None = None) -> ArchivedRun:
    """Rebuild an ArchivedRun from its model_assessments.json record."""
    assessments = tuple(assessment_from_record(model) for model in record["models"])
    return ArchivedRun(
        timestamp=record["timestamp"],
        assessments=assessments,
        config=ModelGatingConfig.from_mapping(record["config"]),
        sha256=record["summary_sha256"],
        run_id=record["run_id"],
        created_at=record["created_at"],
        validation_interval=record["validation_interval"],
        reward_scale=record["reward_scale"],
        source=record["source"],
        path=path,
    )


def _comparison(record: Mapping[str, Any] | None) -> ChampionComparison | None:
    return None if record is None else ChampionComparison.from_record(record)


def index_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's line in the master index, from its model_assessments.json record.

    Archiving and reindex both go through here, so they write identical lines.
    """
    counts = record["counts"]
    return {
        "timestamp": record["timestamp"],
        "run_id": record["run_id"],
        "sha256": record["summary_sha256"],
        "source": record["source"],
        "approved": counts["APPROVED"],
        "review": counts["REVIEW"],
        "dropped": counts["DROP"],
        "config": record.get("config"),  # the thresholds: the catalog explains REVIEW models
        "models": {
            model["symbol"]: {
                "classification": model["classification"],
                "flags": model["flags"],
                **{name: model["metrics"][name]["value"] for name in METRICS},
                "use_checkpoint": model["use_checkpoint"],
                "best_idx": model["best_idx"],
                "checkpoint_step": model["checkpoint_step"],
            }
            for model in record["models"]
        },
    }
