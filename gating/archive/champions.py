"""Feeding the champion comparison at commit time: champions from the catalog, then the group's.

A commit holds the writer lock, so the catalog is current: each symbol's champion is
looked up once per group (a run's symbols in one query), and a run of the group that
leaves a model APPROVED is that symbol's champion for the group's later runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
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


Lookup = Callable[[Collection[str]], Mapping[str, Champion]]
"""The champions of some symbols now, keyed by symbol (``Storage.champions(symbols=...)``)."""


class GroupChampions:
    """The champions a group commit compares its runs with, in commit order."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._known: dict[str, ChampionMetrics | None] = {}

    def _load(self, symbols: Iterable[str]) -> None:
        missing = [symbol for symbol in dict.fromkeys(symbols) if symbol not in self._known]
        if not missing:
            return
        found = self._lookup(missing)  # one query for the run, not one per symbol
        for symbol in missing:
            champion = found.get(symbol)
            self._known[symbol] = (
                None
                if champion is None
                else ChampionMetrics(
                    champion.timestamp,
                    champion.run_id,
                    {metric: champion.model.get(metric) for metric in COMPARED_METRICS},
                )
            )

    def compare(self, prepared: PreparedRun, timestamp: str) -> PreparedRun:
        """The run's assessments held against the champions, as it will be archived."""
        tolerances = prepared.config.champion_tolerances
        if not tolerances:
            return prepared
        self._load(assessment.symbol for assessment in prepared.assessments)
        assessments = compare_models(
            prepared.assessments, self._known, tolerances, timestamp, prepared.summary.run_id
        )
        return dataclasses.replace(prepared, assessments=assessments)


def champion_entries(catalog: Storage) -> Callable[[Collection[str]], Mapping[str, Any]]:
    """The champions now of some symbols, as deployable-set entries (events' ``previous``),
    in one lookup; a catalog that cannot answer gives none (the events are still sent)."""

    def entries(symbols: Collection[str]) -> Mapping[str, Any]:
        try:
            found = catalog.champions(symbols=symbols)
        except ArchiveError:
            return {}
        return {symbol: champion.as_document() for symbol, champion in found.items()}

    return entries


def assess_now(prepared: PreparedRun, stamp: str, lookup: Lookup) -> ArchivedRun:
    """A dry run: the run as a commit now would gate it (held against today's champions)."""
    from gating.run import gate_summary  # noqa: PLC0415 - only a dry run renders a result

    if prepared.config.champion_tolerances:
        prepared = GroupChampions(lookup).compare(prepared, stamp)
    return gate_summary(prepared.summary, prepared.config, stamp, assessments=prepared.assessments)
