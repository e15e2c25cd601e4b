"""Feeding the champion comparison at commit time: champions from the catalog, then the group's.

A commit holds the writer lock, so the catalog is current: each symbol's champion is
looked up once per group, and a run of the group that leaves a model APPROVED is that
symbol's champion for the group's later runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gating.archive.commit import PreparedRun
from gating.champion import ChampionMetrics, compare_models
from gating.comparison import COMPARED_METRICS
from gating.errors import ArchiveError
from gating.verdicts import Champion

if TYPE_CHECKING:
    from gating.archive.storage import Storage
    from gating.run import ArchivedRun

__all__ = ["GroupChampions", "assess_now", "champion_entries"]


class GroupChampions:
    """The champions a group commit compares its runs with, in commit order."""

    def __init__(self, lookup: Callable[[str], Champion | None]) -> None:
        self._lookup = lookup
        self._known: dict[str, ChampionMetrics | None] = {}

    def _load(self, symbol: str) -> None:
        if symbol not in self._known:
            found = self._lookup(symbol)
            self._known[symbol] = (
                None
                if found is None
                else ChampionMetrics(
                    found.timestamp,
                    found.run_id,
                    {metric: found.model.get(metric) for metric in COMPARED_METRICS},
                )
            )

    def compare(self, prepared: PreparedRun, timestamp: str) -> PreparedRun:
        """The run's assessments held against the champions, as it will be archived."""
        tolerances = prepared.config.champion_tolerances
        if not tolerances:
            return prepared
        for assessment in prepared.assessments:
            self._load(assessment.symbol)
        assessments = compare_models(
            prepared.assessments, self._known, tolerances, timestamp, prepared.summary.run_id
        )
        return dataclasses.replace(prepared, assessments=assessments)


def champion_entries(catalog: Storage) -> Callable[[str], Mapping[str, Any] | None]:
    """A symbol's champion now as a deployable-set entry (events' ``previous``), or None;
    a catalog that cannot answer gives None (the event is still sent)."""

    def entry(symbol: str) -> Mapping[str, Any] | None:
        try:
            found = catalog.champion(symbol)
        except ArchiveError:
            return None
        return None if found is None else found.as_document()

    return entry


def assess_now(
    prepared: PreparedRun, stamp: str, champion: Callable[[str], Champion | None]
) -> ArchivedRun:
    """A dry run: the run as a commit now would gate it (held against today's champions)."""
    from gating.run import gate_summary  # noqa: PLC0415 - only a dry run renders a result

    if prepared.config.champion_tolerances:
        prepared = GroupChampions(champion).compare(prepared, stamp)
    return gate_summary(prepared.summary, prepared.config, stamp, assessments=prepared.assessments)
