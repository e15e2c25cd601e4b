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
from typing import Any, NamedTuple

from gating.champion import ChampionMetrics, below_reasons, compare_metrics
from gating.comparison import COMPARED_METRICS
from gating.errors import ArchiveError, shown
from gating.rules import Classification
from gating.verdicts import Decision, iso_from_micros, micros_from_iso

__all__ = ["LETTERS", "RegateChange", "RegateReport", "Regater", "RunOutcome", "letter_of"]

_CLASSES = tuple(str(c) for c in Classification)
_APPROVED = str(Classification.APPROVED)
LETTERS = {str(c)[0]: str(c) for c in Classification}  # A -> APPROVED, R -> REVIEW, D -> DROP


def letter_of(classification: str) -> str:
    """A class as the one letter RunOutcome carries."""
    return classification[0]


Key = tuple[str, str]  # (symbol, run timestamp)
BeforeLookup = Callable[[str, str], ChampionMetrics | None]  # (symbol, decided up to: ISO)


class RunOutcome(NamedTuple):
    """One run re-gated, compact (it crosses from a worker process): per model, in order,
    a letter of ``stored`` (its class now: A, R or D) and of ``gated`` (under the other
    thresholds, before any champion comparison); ``metrics`` (the four values per model)
    only when a champion table needs them; ``why`` only for models whose letter changed:
    symbol -> (new reasons, old reasons). ``error`` says why the run could not be read.
    """

    timestamp: str
    micros: int
    run_id: str | None
    symbols: tuple[str, ...] = ()
    stored: str = ""
    gated: str = ""
    metrics: tuple[tuple[float | None, ...], ...] | None = None
    why: dict[str, tuple[str, str]] | None = None
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


def _decided_micros(decision: Decision) -> int:
    """When a decision was made, in microseconds; ArchiveError, one line, for a time
    written by hand into a shared database (it was a ValueError traceback)."""
    try:
        return micros_from_iso(decision.decided_at)
    except (ValueError, TypeError):
        raise ArchiveError(
            f"decision {decision.seq}: the stored value cannot be read (decided_at "
            f"{shown(decision.decided_at)} is no time)"
        ) from None


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
        self._timeline = [(_decided_micros(d), d) for d in ordered]
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
        if run.error is not None:
            self.report.skipped.append((run.timestamp, run.error))
            return
        report = self.report
        report.runs += 1
        report.models += len(run.symbols)
        for letter, name in LETTERS.items():
            report.now[name] += run.stored.count(letter)
        if not self.tolerances:
            for letter, name in LETTERS.items():
                report.other[name] += run.gated.count(letter)
            if run.stored != run.gated:
                for i, symbol in enumerate(run.symbols):
                    if run.stored[i] != run.gated[i]:
                        self._change(run, symbol, run.stored[i], run.gated[i], "")
            return
        while self._next < len(self._timeline) and self._timeline[self._next][0] <= run.micros:
            self._apply(self._timeline[self._next][1])
            self._next += 1
        assert run.metrics is not None  # a worker sends them with a champion table
        for i, symbol in enumerate(run.symbols):
            values = dict(zip(COMPARED_METRICS, run.metrics[i], strict=True))
            after, why = run.gated[i], ""
            if after == "A":
                found = compare_metrics(values, self._champion(symbol, run.micros), self.tolerances)
                if found.below:
                    after, why = "R", "; ".join(below_reasons(found, values))
            report.other[LETTERS[after]] += 1
            key = (symbol, run.timestamp)
            champion = ChampionMetrics(run.timestamp, run.run_id, values)
            self._crown(key, self._verdicts.get(key, LETTERS[after]), champion)
            if after != run.stored[i]:
                self._change(run, symbol, run.stored[i], after, why)
        self._done = run.timestamp

    def _change(self, run: RunOutcome, symbol: str, before: str, after: str, why: str) -> None:
        """Record a model whose class would change, with why in words."""
        if not why:
            new, old = (run.why or {}).get(symbol, ("", ""))
            why = (f"was: {old}" if old else "within every APPROVED bound") if after == "A" else new
        decided = self._latest.get((symbol, run.timestamp))
        self.report.changes.append(
            RegateChange(
                run.timestamp, run.run_id, symbol, LETTERS[before], LETTERS[after], why,
                None if decided is None else decided.verdict,
                None if decided is None else decided.by,
            )
        )  # fmt: skip

    def fold(self, runs: Iterable[RunOutcome]) -> RegateReport:
        """Fold every run in and return the report."""
        for run in runs:
            self.add(run)
        return self.report
