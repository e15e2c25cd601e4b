"""ReviewDesk: the review side of an archive (decisions, the queue, champions, the audit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gating.archive.catalog_verdicts import END
from gating.archive.layout import Layout
from gating.archive.moments import resolve_time, resolve_timestamp
from gating.archive.storage import Storage
from gating.errors import ArchiveError, DecisionConflictError
from gating.verdicts import Champion, Decision, PendingReview, check_request

if TYPE_CHECKING:
    from gating.archive.writer import ArchiveWriter

__all__ = ["ReviewDesk", "check_seen"]

_T = TypeVar("_T")


class ReviewDesk:
    """Decisions on REVIEW models and overrides, and what they make deployable.

    The queries run through ``ensure`` (as the reader's do); ``decide`` writes through
    the archive's writer (``writer()``), under its lock, with its disk and outbox. A desk
    opened with ``writer=None`` only reads (and never loads the write path).
    """

    def __init__(
        self,
        layout: Layout,
        catalog: Storage,
        ensure: Callable[[Callable[[], Any]], Any],
        writer: Callable[[], ArchiveWriter] | None,
    ) -> None:
        self.layout = layout
        self.catalog = catalog
        self._ensure_any = ensure
        self._writer = writer

    def _ensure(self, query: Callable[[], _T]) -> _T:
        found: _T = self._ensure_any(query)
        return found

    # --- the queue --------------------------------------------------------------------

    def pending_reviews(self, last: int | None = None) -> list[PendingReview]:
        """REVIEW models with no decision, newest run first (only the first ``last`` when
        given), each with its reasons."""
        return list(self.iter_pending_reviews(last))

    def iter_pending_reviews(self, last: int | None = None) -> Iterator[PendingReview]:
        """pending_reviews, read lazily a page of the catalog at a time."""
        from gating.archive.decisions import pending_reviews  # noqa: PLC0415 - queries skip it

        return self._ensure(lambda: pending_reviews(self.catalog, last))

    def pending_count(self) -> int:
        """How many models await review (pending_reviews without reading any run)."""
        return self._ensure(self.catalog.pending_count)

    def model_reasons(self, timestamp: str, symbol: str, model: Mapping[str, Any]) -> list[str]:
        """What keeps one archived model (a history record) from APPROVED, in words."""
        from gating.archive.decisions import model_reasons  # noqa: PLC0415 - queries skip it

        return self._ensure(lambda: model_reasons(self.catalog, timestamp, symbol, model))

    # --- champions and the audit ------------------------------------------------------

    def get_deployable(self, at: str | datetime | None = None) -> dict[str, Champion]:
        """Every symbol's champion, keyed by symbol; ``at``: as it stood at that TIME."""

        def query() -> dict[str, Champion]:
            runs_to, decided_to = (END, END) if at is None else resolve_time(self.catalog, at)
            return self.catalog.champions(runs_to, decided_to)

        return self._ensure(query)

    def get_champion(self, symbol: str) -> Champion | None:
        """One symbol's champion now (get_deployable's entry, found with indexed lookups)."""
        return self._ensure(lambda: self.catalog.champion(symbol))

    def decisions(
        self, symbol: str | None = None, *, timestamp: str | None = None
    ) -> list[Decision]:
        """The audit trail: every decision (on ``symbol``; on run ``timestamp``'s models),
        oldest first."""
        return self._ensure(lambda: self.catalog.decisions(symbol, timestamp))

    # --- deciding ---------------------------------------------------------------------

    def decide(
        self,
        timestamp: str,
        symbol: str,
        verdict: str,
        *,
        by: str,
        reason: str,
        force: bool = False,
        seen: int | None = None,
    ) -> Decision:
        """Approve or drop one model of one run; the decision is on disk when this returns.

        ``timestamp`` may be a unique prefix or ``latest``; ``verdict`` is approve or drop.
        Overriding the gate (approving a DROP, dropping an APPROVED) needs ``force``.
        ``seen`` is the sequence number of the model's latest decision the decider saw (0:
        none); if another came since, DecisionConflictError names it and nothing is
        recorded. The returned Decision carries the events it caused (``events``), also
        written to the writer's outbox when it has one.
        """
        from gating.archive.decisions import take_decision  # noqa: PLC0415 - the write path

        check_request(timestamp, symbol, by, reason)
        # An unknown run fails before anything is created; a newest decision's row edited
        # by hand (the next number comes from it) has the catalog rebuilt first.
        self._ensure(
            lambda: (resolve_timestamp(self.catalog, timestamp), self.catalog.last_decision())
        )
        if self._writer is None:
            raise ArchiveError(f"{self.layout.root}: this review desk only reads")
        writer = self._writer()
        with writer.writing("decide"):
            stamp = resolve_timestamp(writer.catalog, timestamp)
            if seen is not None:
                check_seen(writer.catalog.decision_of(stamp, symbol), seen, stamp, symbol)
            return take_decision(
                self.layout, writer.catalog, stamp, symbol, verdict, by=by, reason=reason,
                force=force, disk=writer.disk, sync=writer.durable, outbox=writer.outbox,
            )  # fmt: skip


def check_seen(current: Decision | None, seen: int, timestamp: str, symbol: str) -> None:
    """Refuse (DecisionConflictError, naming the winner) when the model's latest decision
    is not the one the decider saw."""
    if (0 if current is None else current.seq) == seen:
        return
    if current is None:
        raise DecisionConflictError(f"{symbol} in run {timestamp}: the decision seen is gone")
    raise DecisionConflictError(
        f"{symbol} in run {timestamp} was decided meanwhile: {current.verdict} by "
        f"{current.by} at {current.decided_at} (decision {current.seq}); nothing recorded"
    )
