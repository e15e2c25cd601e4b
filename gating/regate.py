"""What-if, pure: merge re-gated runs in time order with the decisions, champions as they go.

The archive's shell re-gates each run's stored summary (in worker processes) and feeds the
results here oldest first; ``Regater`` applies each decision when its time comes (decisions
stay as made: they decide verdicts, hence champions), holds models against the champions
under the other config's table, and counts what would change.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gating.champion import ChampionMetrics, champion_reasons, compare
from gating.comparison import COMPARED_METRICS
from gating.rules import Classification, ModelAssessment
from gating.verdicts import Decision, iso_from_micros, micros_from_iso

__all__ = ["ModelOutcome", "RegateChange", "RegateReport", "Regater", "RunOutcome"]

_CLASSES = tuple(str(c) for c in Classification)
_APPROVED = str(Classification.APPROVED)

Key = tuple[str, str]  # (symbol, run timestamp)
BeforeLookup = Callable[[str, str], ChampionMetrics | None]  # (symbol, decided up to: ISO)


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """One model re-gated: its stored class, its class under the other thresholds, and why.

    ``assessment`` is kept only where a champion table may still change the class (an
    APPROVED gate); ``new_reasons`` and ``old_reasons`` only where the gate's class changed.
    """

    symbol: str
    stored: str
    gated: str
    metrics: tuple[float | None, float | None, float | None, float | None]
    assessment: ModelAssessment | None = None
    new_reasons: tuple[str, ...] = ()
    old_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One run re-gated (``micros``: its timestamp as microseconds), or why it could not be."""

    timestamp: str
    micros: int
    run_id: str | None
    models: tuple[ModelOutcome, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RegateChange:
    """A model whose class would change: from, to, why, and its verdict if a person decided."""

    timestamp: str
    run_id: str | None
    symbol: str
    before: str
    after: str
    why: str
    verdict: str | None = None
    decided_by: str | None = None

    def as_document(self) -> dict[str, Any]:
        """The change as ``regate --json`` lists it."""
        return {
            "timestamp": self.timestamp,
            "run_id": self.run_id,
            "symbol": self.symbol,
            "from": self.before,
            "to": self.after,
            "why": self.why,
            "verdict": self.verdict,
            "decided_by": self.decided_by,
        }


@dataclass(slots=True)
class RegateReport:
    """The answer to "what if the thresholds were different?": counts now and under the other."""

    since: str | None = None
    runs: int = 0
    models: int = 0
    now: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CLASSES, 0))
    other: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CLASSES, 0))
    changes: list[RegateChange] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, reason)

    def as_document(self) -> dict[str, Any]:
        """The report as ``regate --json`` prints it."""
        return {
            "since": self.since,
            "runs": self.runs,
            "models": self.models,
            "counts": {c: {"now": self.now[c], "other": self.other[c]} for c in _CLASSES},
            "changes": [change.as_document() for change in self.changes],
            "skipped": [{"timestamp": t, "reason": r} for t, r in self.skipped],
        }


class Regater:
    """Folds re-gated runs, oldest first, into a RegateReport (see the module docstring)."""

    def __init__(
        self,
        tolerances: Mapping[str, float],
        decisions: Sequence[Decision],
        *,
        since: str | None = None,
        before: BeforeLookup | None = None,
    ) -> None:
        self.tolerances = tolerances
        self.report = RegateReport(since=since)
        self._since = since
        self._before = before
        ordered = sorted(decisions, key=lambda d: d.seq)
        self._timeline = [(micros_from_iso(d.decided_at), d) for d in ordered]
        self._next = 0  # the next decision of the timeline to apply
        self._latest: dict[Key, Decision] = {(d.symbol, d.timestamp): d for d in ordered}
        self._drop_targets = {(d.symbol, d.timestamp) for d in ordered if d.verdict != _APPROVED}
        self._approve_targets = {(d.symbol, d.timestamp) for d in ordered if d.verdict == _APPROVED}
        self._verdicts: dict[Key, str] = {}  # decisions applied so far
        self._stacks: dict[str, list[tuple[str, ChampionMetrics]]] = {}  # APPROVED, oldest first
        self._candidates: dict[Key, ChampionMetrics] = {}  # may be approved by a later decision
        self._earlier: dict[str, ChampionMetrics | None] = {}  # champions from before ``since``
        self._done = ""  # the newest run folded in

    # --- champions -----------------------------------------------------------------------

    def _champion(self, symbol: str, micros: int) -> ChampionMetrics | None:
        stack = self._stacks.get(symbol)
        if stack:
            return stack[-1][1]
        if self._before is None:
            return None
        if symbol not in self._earlier:
            self._earlier[symbol] = self._before(symbol, iso_from_micros(micros))
        return self._earlier[symbol]

    def _apply(self, decision: Decision) -> None:
        key = (decision.symbol, decision.timestamp)
        if self._since is not None and decision.timestamp < self._since:
            self._earlier.pop(decision.symbol, None)  # looked up again, with this decision
            return
        self._verdicts[key] = decision.verdict
        if decision.timestamp > self._done:
            return  # its run is still to come: the verdict is applied then
        stack = self._stacks.setdefault(decision.symbol, [])
        stack[:] = [entry for entry in stack if entry[0] != decision.timestamp]
        if decision.verdict == _APPROVED and key in self._candidates:
            bisect.insort(stack, (decision.timestamp, self._candidates[key]), key=lambda e: e[0])

    def _crown(self, key: Key, verdict: str, champion: ChampionMetrics) -> None:
        if key in self._approve_targets:
            self._candidates[key] = champion
        if verdict != _APPROVED:
            return
        stack = self._stacks.setdefault(key[0], [])
        if key not in self._drop_targets:
            stack.clear()  # never undone: no older model can be champion again
        stack.append((key[1], champion))

    # --- folding ---------------------------------------------------------------------------

    def add(self, run: RunOutcome) -> None:
        """Fold in the next run (runs come oldest first)."""
        while self._next < len(self._timeline) and self._timeline[self._next][0] <= run.micros:
            self._apply(self._timeline[self._next][1])
            self._next += 1
        if run.error is not None:
            self.report.skipped.append((run.timestamp, run.error))
            return
        report = self.report
        report.runs += 1
        for model in run.models:
            key = (model.symbol, run.timestamp)
            after, why = self._gate(model, run.micros)
            report.models += 1
            report.now[model.stored] = report.now.get(model.stored, 0) + 1
            report.other[after] += 1
            if self.tolerances:
                metrics = dict(zip(COMPARED_METRICS, model.metrics, strict=True))
                champion = ChampionMetrics(run.timestamp, run.run_id, metrics)
                self._crown(key, self._verdicts.get(key, after), champion)
            if after != model.stored:
                decided = self._latest.get(key)
                report.changes.append(
                    RegateChange(
                        run.timestamp, run.run_id, model.symbol, model.stored, after, why,
                        None if decided is None else decided.verdict,
                        None if decided is None else decided.by,
                    )
                )  # fmt: skip
        self._done = run.timestamp

    def _gate(self, model: ModelOutcome, micros: int) -> tuple[str, str]:
        """The model's class under the other config (champion included), and why in words."""
        after = model.gated
        if self.tolerances and model.assessment is not None and after == _APPROVED:
            adjusted, _ = compare(
                model.assessment, self._champion(model.symbol, micros), self.tolerances
            )
            if adjusted.classification is not Classification.APPROVED:
                return str(adjusted.classification), "; ".join(champion_reasons(adjusted))
        if after == _APPROVED:
            was = "; ".join(model.old_reasons)
            return after, "within every APPROVED bound" + (f" (was: {was})" if was else "")
        return after, "; ".join(model.new_reasons)

    def fold(self, runs: Iterable[RunOutcome]) -> RegateReport:
        """Fold every run in and return the report."""
        for run in runs:
            self.add(run)
        return self.report
