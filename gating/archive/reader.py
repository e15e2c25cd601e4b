"""ArchiveReader: the queries of runs, models and history, from the catalog and run folders.

It never writes and never takes the writer lock: whoever opens it passes ``ensure``, which
runs a query once the catalog is ready (the manager's rebuilds a missing or damaged
catalog first; a plain reader can pass ``run_query``). A new query goes here (or, for
the review queue, champions and the audit, in ``review.py``): a Catalog method with its
SQL, a method below, then the CLI, documents and the API use it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gating.archive.layout import Layout, is_timestamp
from gating.archive.moments import missing_run, resolve_timestamp
from gating.archive.storage import Storage
from gating.errors import ArchiveError, ArgumentError
from gating.progress import Progress
from gating.rules import Classification, ModelGatingConfig

if TYPE_CHECKING:
    from gating.regate import RegateReport
    from gating.run import ArchivedRun

__all__ = ["ArchiveReader", "run_query"]

_T = TypeVar("_T")


def primed(items: Iterator[_T]) -> Iterator[_T]:
    """The iterator with its first item read now, the rest lazily: a lazy query's damaged
    catalog then shows inside ``ensure``, which rebuilds it, not in the caller's loop."""
    try:
        first = next(items)
    except StopIteration:
        return iter(())
    return itertools.chain((first,), items)


def run_query(query: Callable[[], _T]) -> _T:
    """An ``ensure`` that trusts the catalog as it is (a reader that may not rebuild it)."""
    return query()


class ArchiveReader:
    """The archive's queries of runs, models and history (never a write, never the lock)."""

    def __init__(
        self, layout: Layout, catalog: Storage, ensure: Callable[[Callable[[], Any]], Any]
    ) -> None:
        self.layout = layout
        self.catalog = catalog
        self._ensure_any = ensure

    def _ensure(self, query: Callable[[], _T]) -> _T:
        found: _T = self._ensure_any(query)
        return found

    def find_by_sha256(self, sha256: str) -> str | None:
        """The timestamp of the run archived from these bytes, if any."""
        return self._ensure(lambda: self.catalog.owner_of(sha256))

    def list_runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """Every run (the newest ``last``), oldest first: timestamp, run_id, source, counts."""
        return list(self.iter_runs(last))

    def iter_runs(self, last: int | None = None) -> Iterator[dict[str, Any]]:
        """list_runs, read lazily a page of the catalog at a time (for a million runs)."""
        rows = self._ensure(lambda: primed(self.catalog.runs(last)))
        for timestamp, _, run_id, source, approved, review, dropped in rows:
            yield {"timestamp": timestamp, "run_id": run_id, "source": source,
                   "approved": approved, "review": review, "dropped": dropped}  # fmt: skip

    def totals(self) -> dict[str, Any]:
        """The archive in numbers: runs, models per gate class, the newest run's timestamp."""
        runs, approved, review, dropped, latest = self._ensure(self.catalog.totals)
        return {"runs": runs, "approved": approved, "review": review, "dropped": dropped,
                "latest": latest}  # fmt: skip

    def latest_timestamp(self) -> str | None:
        """The newest run's timestamp, or None for an empty archive."""
        return self._ensure(self.catalog.latest)

    def run_entry(self, timestamp: str | None = None) -> dict[str, Any] | None:
        """A run's index entry: counts and each model's result (latest when None).

        Read from the run folder itself, which is the truth the index is derived from.
        """
        if timestamp is None:
            timestamp = self.latest_timestamp()
            if timestamp is None:
                return None
        from gating.archive.maintenance import Damaged, load_entry  # noqa: PLC0415 - see get_run

        if not is_timestamp(timestamp):
            return None
        try:
            return load_entry(self.layout, timestamp)
        except Damaged as damaged:
            if self.layout.run(timestamp).is_dir():  # there, but its record cannot be read
                raise missing_run(timestamp, [(timestamp, damaged.reason)]) from None
        raise missing_run(timestamp, self.damaged_runs())

    def get_approved_models(self, timestamp: str | None = None) -> list[str]:
        """Symbols whose verdict is APPROVED in a run (the latest when ``timestamp`` is None)."""

        def query() -> list[str] | None:
            stamp = self.catalog.latest() if timestamp is None else timestamp
            if stamp is None:
                return []
            if self.catalog.run(stamp) is None:
                return None
            return [
                symbol
                for symbol, verdict in self.catalog.run_verdicts(stamp)
                if verdict == Classification.APPROVED
            ]

        approved = self._ensure(query)
        if approved is None:
            raise missing_run(str(timestamp), self.damaged_runs())
        return approved

    def get_symbol_history(self, symbol: str, last: int | None = None) -> list[dict[str, Any]]:
        """One dict per run that gated ``symbol``, oldest first (only the newest ``last``)."""
        try:
            return [json.loads(record) for record in self.symbol_history_json(symbol, last)]
        except ArgumentError:
            raise
        except ValueError as error:  # a record edited by hand: one line, not a traceback
            raise ArchiveError(
                f"{self.layout.root}: the catalog's history record of {symbol!r} is not JSON "
                f"({error}); `gatewatch reindex` rebuilds it"
            ) from None

    def symbol_history_json(self, symbol: str, last: int | None = None) -> Iterator[bytes]:
        """get_symbol_history's records as JSON, read lazily from the catalog."""
        return self._ensure(lambda: primed(self.catalog.history(symbol, last)))

    def history_count(self, symbol: str) -> int:
        """How many runs gated ``symbol`` (what get_symbol_history would list)."""
        return self._ensure(lambda: self.catalog.history_count(symbol))

    def symbols(self) -> list[str]:
        """Every symbol ever gated, sorted."""
        return self._ensure(self.catalog.symbols)

    def get_run(self, timestamp: str) -> ArchivedRun:
        """The full gating result of one archived run, read from its folder."""
        from gating.archive.maintenance import read_run  # noqa: PLC0415 - queries skip the parser

        return read_run(self.layout, timestamp)

    def damaged_runs(self) -> list[tuple[str, str]]:
        """(timestamp, reason) of each run folder that could not be read."""
        return self._ensure(self.catalog.damaged)

    def damaged_decisions(self) -> list[tuple[str, str]]:
        """(file, reason) of each file in decisions/ that is not a decision: every answer
        leaves it out (read from the folder; ArchiveError when one cannot be read now)."""
        from gating.archive.decisions import read_decisions  # noqa: PLC0415 - not for queries

        found: list[tuple[str, str]] = []
        read_decisions(self.layout, damaged=lambda path, why: found.append((str(path), why)))
        return found

    def resolve_timestamp(self, text: str) -> str:
        """A run's timestamp from itself, a unique prefix of it, or ``latest``.

        RunNotFoundError when none matches, AmbiguousTimestampError (listing them) when
        several do.
        """
        return self._ensure(lambda: resolve_timestamp(self.catalog, text))

    def regate(
        self,
        config: ModelGatingConfig,
        since: str | datetime | None = None,
        *,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> RegateReport:
        """What if the thresholds were ``config``'s? Every run since ``since``, gated again.

        Each run's stored summary is gated under ``config`` (its champion table too, with
        champions as the re-gating goes in time order, and decisions as made); nothing is
        written. ``since`` is a TIME; ``workers`` processes share the work (default: one
        per processor); ``progress(done, total)`` is called as runs are done.
        """
        from gating.archive.regate import regate_archive  # noqa: PLC0415 - the what-if is loaded when used

        return self._ensure(
            lambda: regate_archive(
                self.layout, self.catalog, config, since=since, progress=progress,
                workers=workers,
            )
        )  # fmt: skip
