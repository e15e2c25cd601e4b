"""Prometheus metrics read from the archive and status.json at scrape time."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon import documents
from daemon.status import COUNTERS, Health, epoch_of
from gating import TrainingArchiveManager
from gating.archive.layout import is_timestamp, ts_micros

__all__ = ["ArchiveCollector", "Deliveries", "metrics_text", "registry_for"]

Deliveries = Mapping[str, Mapping[str, int]]  # per notification target: pending, failed

CLASSES = ("APPROVED", "REVIEW", "DROP")
CLASS_KEYS = {"APPROVED": "approved", "REVIEW": "review", "DROP": "dropped"}
FILE_OUTCOMES = COUNTERS[:4]


def archive_metrics(
    totals: Mapping[str, Any],
    *,
    rejected: int,
    decisions: Sequence[Mapping[str, Any]] | None,
    pending: int | None,
    status: Mapping[str, Any] | None,
    health: Health,
    now: float,
    deliveries: Deliveries | None = None,
) -> Iterator[Metric]:
    """The metric families for one scrape (a pure function of what was read)."""
    yield GaugeMetricFamily("gatewatch_archive_runs", "Runs in the archive.", value=totals["runs"])
    models = GaugeMetricFamily(
        "gatewatch_archive_models",
        "Models in the archive by the gate's classification.",
        labels=["classification"],
    )
    for name in CLASSES:
        models.add_metric([name], int(totals[CLASS_KEYS[name]]))
    yield models
    yield GaugeMetricFamily(
        "gatewatch_files_rejected",
        "Rejected summaries kept with a reason (_rejected/, or shared mode's table).",
        value=rejected,
    )
    latest = totals["latest"]
    if latest is not None and is_timestamp(str(latest)):  # not a row written by hand
        age = max(0.0, now - ts_micros(str(latest)) / 1e6)
        yield GaugeMetricFamily(
            "gatewatch_seconds_since_last_archive",
            "Seconds since the newest run was archived.",
            value=age,
        )
    if decisions is not None:
        made = GaugeMetricFamily(
            "gatewatch_decisions", "Decisions made by people, by verdict.", labels=["verdict"]
        )
        by_verdict = collections.Counter(str(d.get("verdict")) for d in decisions)
        for name in ("APPROVED", "DROP"):
            made.add_metric([name], by_verdict.get(name, 0))
        yield made
    if pending is not None:
        yield GaugeMetricFamily(
            "gatewatch_reviews_pending", "Models awaiting a review.", value=pending
        )
    if deliveries:
        for name, doc in (
            ("pending", "Events waiting in the outbox for a target (wanted by it, not sent)."),
            ("failed", "Events a target gave up on, kept in outbox/failed/."),
        ):
            family = GaugeMetricFamily(f"gatewatch_notifications_{name}", doc, labels=["target"])
            for target, counts in sorted(deliveries.items()):
                family.add_metric([target], int(counts.get(name, 0)))
            yield family
    yield GaugeMetricFamily(
        "gatewatch_service_up",
        "1 when the service runs and keeps status.json fresh (in shared mode, on a host "
        "without one: when a service writes into the database).",
        value=1 if health.running else 0,
    )
    if status is not None and health.running:
        failing = epoch_of(status.get("archive_failing_since"))
        yield GaugeMetricFamily(
            "gatewatch_archive_failing_seconds",
            "Seconds every archive has failed, nothing archived since (0 when it archives).",
            value=0.0 if failing is None else max(0.0, now - failing),
        )
        yield GaugeMetricFamily(
            "gatewatch_queue_depth",
            "Files the service holds waiting to be archived.",
            value=int(status.get("queue_depth") or 0),
        )
        counters = status.get("counters") or {}
        files = CounterMetricFamily(
            "gatewatch_service_files",
            "Files the running service handled since it started, by outcome.",
            labels=["outcome"],
        )
        for outcome in FILE_OUTCOMES:
            files.add_metric([outcome], int(counters.get(outcome) or 0))
        yield files


class ArchiveCollector(Collector):
    """Reads the archive and status.json whenever Prometheus scrapes."""

    def __init__(
        self,
        manager: TrainingArchiveManager,
        health: Callable[[], tuple[dict[str, Any] | None, Health]],
        deliveries: Callable[[], Deliveries] = dict,
    ) -> None:
        self.manager = manager
        self.health = health
        self.deliveries = deliveries

    def collect(self) -> Iterator[Metric]:
        """The metric families of this moment."""
        manager = self.manager
        decisions = documents.audit_document(manager)
        pending = documents.pending_count(manager)
        status, health = self.health()
        yield from archive_metrics(
            manager.reader.totals(),
            rejected=manager.writer.rejected_count(),
            decisions=decisions,
            pending=pending,
            status=status,
            health=health,
            now=time.time(),
            deliveries=self.deliveries(),
        )


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry holding only this collector (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of a registry."""
    return generate_latest(registry)
