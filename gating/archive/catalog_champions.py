"""The catalog's champions: one indexed lookup per symbol, never a scan of the models.

A symbol's champion is the newer of two rows: its newest gate-APPROVED model that no
decision dropped, and its newest model whose latest decision is APPROVED (both up to a
point in time for ``deployable --at``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import Any

from gating.archive.catalog_rows import json_object, stored
from gating.archive.catalog_verdicts import (
    D_COLUMNS,
    END,
    VerdictQueries,
    decision_from_row,
    insert_decisions,
)
from gating.verdicts import Champion, Decision

__all__ = ["ChampionQueries"]

# Every symbol that was ever APPROVED by the gate (a skip-scan of the partial index: one
# seek per symbol) or by a decision.
_ALL_SYMBOLS = """
s(symbol) AS (
    SELECT (SELECT min(symbol) FROM models WHERE classification = 'APPROVED')
    UNION ALL
    SELECT (SELECT min(m.symbol) FROM models AS m
            WHERE m.classification = 'APPROVED' AND m.symbol > s.symbol)
    FROM s WHERE s.symbol IS NOT NULL
),
symbols(symbol) AS (
    SELECT symbol FROM s WHERE symbol IS NOT NULL
    UNION SELECT symbol FROM decisions WHERE verdict = 'APPROVED'
)"""
# The symbols asked for, as a JSON array (one statement however many).
_SOME_SYMBOLS = "symbols(symbol) AS (SELECT DISTINCT value FROM json_each(:symbols))"

# Per symbol, two indexed lookups: the newest gate-APPROVED row up to :runs whose latest
# decision up to :decided (if any) did not drop it (the partial index walked newest first),
# and the newest row whose latest decision up to :decided is APPROVED; the champion is the
# newer, with its run, its model and the decision behind its verdict (if any).
_CHAMPIONS = """
WITH RECURSIVE {symbols},
found(symbol, gate, decided) AS MATERIALIZED (
    SELECT symbols.symbol,
        (SELECT m.timestamp FROM models AS m INDEXED BY models_approved
         WHERE m.symbol = symbols.symbol AND m.classification = 'APPROVED'
           AND m.timestamp <= :runs
           AND coalesce((SELECT d.verdict FROM decisions AS d
                         WHERE d.symbol = m.symbol AND d.timestamp = m.timestamp
                           AND d.decided_at <= :decided
                         ORDER BY d.seq DESC, d.name DESC LIMIT 1), 'APPROVED') = 'APPROVED'
         ORDER BY m.timestamp DESC LIMIT 1),
        (SELECT d.timestamp FROM decisions AS d
         WHERE d.symbol = symbols.symbol AND d.timestamp <= :runs
           AND d.decided_at <= :decided AND d.verdict = 'APPROVED'
           AND d.name = (SELECT e.name FROM decisions AS e
                         WHERE e.symbol = d.symbol AND e.timestamp = d.timestamp
                           AND e.decided_at <= :decided
                         ORDER BY e.seq DESC, e.name DESC LIMIT 1)
           AND EXISTS (SELECT 1 FROM models AS m
                       WHERE m.symbol = d.symbol AND m.timestamp = d.timestamp)
         ORDER BY d.timestamp DESC LIMIT 1)
    FROM symbols
),
best(symbol, timestamp) AS MATERIALIZED (
    SELECT symbol, max(coalesce(gate, ''), coalesce(decided, '')) FROM found
    WHERE gate IS NOT NULL OR decided IS NOT NULL
)
SELECT best.symbol, best.timestamp, r.run_id, m.body, {decision_columns}
FROM best
JOIN models AS m ON m.symbol = best.symbol AND m.timestamp = best.timestamp
JOIN runs AS r ON r.timestamp = best.timestamp
LEFT JOIN decisions AS d ON d.name = (
    SELECT e.name FROM decisions AS e
    WHERE e.symbol = best.symbol AND e.timestamp = best.timestamp AND e.decided_at <= :decided
    ORDER BY e.seq DESC, e.name DESC LIMIT 1)
ORDER BY best.symbol
"""


class ChampionQueries(VerdictQueries):
    """The champion statements of the Catalog (above its decisions and verdicts)."""

    def _champions(self, symbols: str, params: dict[str, Any]) -> dict[str, Champion]:
        sql = _CHAMPIONS.format(symbols=symbols, decision_columns=D_COLUMNS)
        found = {}
        for symbol, timestamp, run_id, body, *decided in self._rows(sql, params):
            decision = None if decided[0] is None else decision_from_row(decided)
            body_of = stored(body, f"model {symbol} of run {timestamp}", json_object)
            found[symbol] = Champion(symbol, timestamp, run_id, body_of, decision)
        return found

    def champion(self, symbol: str, runs_to: str = END, decided_to: str = END) -> Champion | None:
        """A symbol's champion among runs up to ``runs_to`` and decisions up to ``decided_to``."""
        return self.champions(runs_to, decided_to, symbols=[symbol]).get(symbol)

    def champion_with(self, decision: Decision) -> Champion | None:
        """The decided symbol's champion were ``decision`` indexed (nothing is written)."""

        def work(connection: sqlite3.Connection) -> Champion | None:
            insert_decisions(connection, [decision])
            return self.champion(decision.symbol)

        found: Champion | None = self._rolled_back(work)
        return found

    def champions(
        self, runs_to: str = END, decided_to: str = END, *, symbols: Collection[str] | None = None
    ) -> dict[str, Champion]:
        """Every symbol's champion (the deployable set), or only those of ``symbols``,
        keyed and sorted by symbol."""
        params = {"runs": runs_to, "decided": decided_to}
        if symbols is None:
            return self._champions(_ALL_SYMBOLS, params)
        if not symbols:
            return {}
        return self._champions(_SOME_SYMBOLS, params | {"symbols": json.dumps(list(symbols))})
