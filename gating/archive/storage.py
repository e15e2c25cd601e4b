"""Storage: what the archive asks of the store that keeps it, declared by concept.

Three seams. ``Storage`` is every question the reader, the review desk and a group
commit's lookups ask (today: ``Catalog``, SQLite beside the run folders). ``GroupCommit``
is how the writer makes a group of prepared runs durable and indexed (today:
``GroupCommitter``, which publishes run folders and then indexes them). ``Writer`` is
everything that writes an archive (today: ``ArchiveWriter``; in shared mode
``gating.shared.writer.SharedWriter``). A second backend
(PostgreSQL, for several hosts) implements both; the rules, the service and the web work
over it unchanged. mypy checks that today's classes implement them
(``tests/gating/archive/test_storage.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gating.archive.catalog_rows import RunRow
from gating.progress import Progress
from gating.verdicts import Champion, Decision

if TYPE_CHECKING:
    from gating.archive.commit import PreparedRun
    from gating.archive.disk import Disk
    from gating.archive.outbox import Outbox
    from gating.archive.reindexing import PendingReindex
    from gating.archive.rejections import RejectedFile
    from gating.rules import ModelGatingConfig
    from gating.run import ArchivedRun

__all__ = [
    "ChampionIndex",
    "GroupCommit",
    "RunIndex",
    "Storage",
    "Summaryish",
    "VerdictIndex",
    "Writer",
]

Summaryish = Mapping[str, Any] | bytes | bytearray | str


class RunIndex(Protocol):
    """Runs and their models: what was archived, when, from which bytes."""

    def owner_of(self, sha256: str) -> str | None:
        """The run that holds these summary bytes, if any."""

    def latest(self) -> str | None:
        """The newest run's timestamp."""

    def totals(self) -> tuple[int, int, int, int, str | None]:
        """Runs, models APPROVED, REVIEW and DROP by the gate, the newest timestamp."""

    def runs(self, last: int | None = None) -> Iterator[RunRow]:
        """Every run's row, oldest first (only the newest ``last`` when given)."""

    def run(self, timestamp: str) -> RunRow | None:
        """One run's row."""

    def run_models(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, classification) of one run's models, in summary order."""

    def with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` run timestamps starting with ``prefix``, oldest first."""

    def history(self, symbol: str, last: int | None = None) -> Iterator[bytes]:
        """A symbol's history records as JSON, oldest first (the newest ``last``)."""

    def history_count(self, symbol: str) -> int:
        """How many runs gated ``symbol``."""

    def symbols(self) -> list[str]:
        """Every symbol that was ever gated, sorted."""

    def damaged(self) -> list[tuple[str, str]]:
        """(timestamp, reason) of every run that cannot be read, oldest first."""

    def record(self, timestamp: str) -> bytes | None:
        """A run's record (its model_assessments.json bytes); None if it cannot be read."""


class VerdictIndex(Protocol):
    """Decisions and the verdicts they give models."""

    def decisions(self, symbol: str | None = None, timestamp: str | None = None) -> list[Decision]:
        """Every decision (on one symbol, on one run's models), oldest first."""

    def decision_of(self, timestamp: str, symbol: str, decided: str = ...) -> Decision | None:
        """The latest decision on one model made up to ``decided``, if any."""

    def last_decision(self) -> tuple[int, str | None]:
        """The newest decision's (sequence number, decided_at); (0, None) when none."""

    def model(self, timestamp: str, symbol: str) -> tuple[str, str, str | None] | None:
        """One model's (classification, index body, run_id), or None."""

    def run_verdicts(self, timestamp: str) -> list[tuple[str, str]]:
        """(symbol, verdict) of one run's models, in summary order."""

    def bounds_of(self, timestamp: str) -> str | None:
        """The [APPROVED, DROP] bounds (JSON, by metric) a run was gated under."""

    def pending(
        self, last: int | None = None
    ) -> Iterator[tuple[str, str | None, str, str, str | None]]:
        """(timestamp, run_id, symbol, body, bounds) of each undecided REVIEW model."""

    def pending_count(self) -> int:
        """How many REVIEW models await a decision."""


class ChampionIndex(Protocol):
    """Each symbol's champion, now or at a point in time."""

    def champion(self, symbol: str, runs_to: str = ..., decided_to: str = ...) -> Champion | None:
        """A symbol's champion among runs up to ``runs_to`` and decisions up to
        ``decided_to``."""

    def champion_with(self, decision: Decision) -> Champion | None:
        """The decided symbol's champion were ``decision`` indexed (nothing written)."""

    def champions(
        self, runs_to: str = ..., decided_to: str = ..., *, symbols: Collection[str] | None = None
    ) -> dict[str, Champion]:
        """Every symbol's champion (the deployable set), or only those of ``symbols`` (one
        lookup however many), keyed by symbol."""


class Storage(RunIndex, VerdictIndex, ChampionIndex, Protocol):
    """Every question the reader, the review desk and a group commit ask of a store
    (the writing is the backend's own: see GroupCommit)."""

    def refresh(self) -> bool:
        """Notice that the store was replaced under this process (then recover again)."""

    def is_built(self) -> bool:
        """Whether the store holds every run (a new, empty one does not)."""

    def close(self) -> None:
        """Let go of every connection."""


class GroupCommit(Protocol):
    """How the writer commits (called under its lock): a group all at once, each run once."""

    def commit(
        self,
        prepared: Sequence[PreparedRun],
        *,
        disk: Disk,
        durable: bool,
        outbox: Outbox | None,
        fold: bool,
    ) -> list[ArchivedRun]:
        """Give each new run a timestamp, make the group durable, indexed and announced
        (its events in ``outbox``); results in the order given, repeats as duplicates."""

    def stamp(self) -> str:
        """A timestamp after every run archived and every one handed out before."""


class Writer(Protocol):
    """Everything that writes one archive, as ``TrainingArchiveManager.writer`` is: the
    folder archive's ``ArchiveWriter``, or the shared archive's ``SharedWriter``."""

    config: ModelGatingConfig  # the service's reload replaces it
    max_file_bytes: int
    outbox: Outbox | None
    derived: bool  # whether there is derived data to compact and rebuild (index, catalog)

    def close(self, *, fold: bool = True) -> None:
        """Let go of every file and connection (folding index.json first, where there is one)."""

    def prepare(
        self, summary_data: Summaryish, *, source: str | None = None, sha256: str | None = None
    ) -> PreparedRun:
        """Parse and gate a summary, writing nothing (SummaryError if invalid)."""

    def commit_many(self, prepared: Sequence[PreparedRun]) -> list[ArchivedRun]:
        """Archive prepared runs as one group, all or nothing; results in the same order."""

    def archive_many(self, summaries: Iterable[Summaryish]) -> list[ArchivedRun]:
        """Prepare and commit summaries in groups."""

    def assess(self, summary_data: Summaryish) -> ArchivedRun:
        """Gate a summary as a commit now would, writing nothing."""

    def recover(
        self, progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:  # fmt: skip
        """Make the archive ready to write after a crash; how many runs that found.
        ``progress(done, total)`` follows a rebuild of the catalog, if one is needed, and
        ``cancelled()`` stops it."""

    def compact(self) -> int:
        """Bring derived data up to date; how many runs the archive lists."""

    def reindex(
        self, progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:  # fmt: skip
        """Rebuild derived data from the primary data; how many runs."""

    def begin_reindex(
        self, progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int | PendingReindex:  # fmt: skip
        """``reindex`` in two halves: how many runs if it is done already, else what reads
        the primary data beside the writer (``fill``) and swaps the result in (``finish``)."""

    def reject(
        self, raw: bytes | None, *, source: str, reason: str, sha256: str | None = None
    ) -> Path | None:
        """Keep a rejected summary and why (its file_rejected event first); the reason
        file, where there is one."""

    def rejected_keys(self) -> set[str]:
        """The sha256 of every summary already rejected, and ``rejections.unread_key``
        for each one rejected unread (too large)."""

    def rejected(self, last: int | None = None) -> list[RejectedFile]:
        """The rejected summaries, oldest first (the newest ``last``), each with its reason."""

    def rejected_count(self) -> int:
        """How many rejected summaries are kept (none is read)."""

    def index_decisions(self) -> int:
        """Index decisions made but not yet indexed; how many."""
