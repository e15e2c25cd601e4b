"""Tests for gating.archive.catalog_schema: the tallies stay right, older versions are rebuilt."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gating import TrainingArchiveManager
from gating.archive.catalog import Catalog, CatalogDamagedError
from gating.archive.catalog_schema import SCHEMA, SCHEMA_VERSION, statements
from gating.verdicts import Decision
from tests.conftest import make_summary

GRADES = ("APPROVED", "REVIEW", "DROP")
SYMBOLS = ("A", "B", "C")


def entry(n: int, grades: tuple[str, ...]) -> dict[str, Any]:
    """Run ``n`` whose symbols A, B, C... were graded ``grades``."""
    models = {
        SYMBOLS[i]: {"classification": grade, "flags": [], "fitness": 0.1}
        for i, grade in enumerate(grades)
    }
    return {
        "timestamp": f"20240101T0000{n:02d}000000Z",
        "run_id": f"r{n}",
        "sha256": f"{n:064d}",
        "source": None,
        "approved": grades.count("APPROVED"),
        "review": grades.count("REVIEW"),
        "dropped": grades.count("DROP"),
        "models": models,
    }


def decision(seq: int, n: int, symbol: str, verdict: str) -> Decision:
    """A decision on run ``n``'s ``symbol``."""
    return Decision(seq, entry(n, ())["timestamp"], symbol, verdict, "REVIEW", "REVIEW",
                    False, "ana", "why", f"2024-02-01T00:00:{seq:02d}Z")  # fmt: skip


def counted(path: Path) -> tuple[tuple[int, int, int, int], int]:
    """The totals and the pending reviews, counted over every row (what the tallies save)."""
    with sqlite3.connect(path) as connection:
        runs = connection.execute(
            "SELECT count(*), total(approved), total(review), total(dropped) FROM runs"
        ).fetchone()
        pending = connection.execute(
            "SELECT count(*) FROM models AS m WHERE classification = 'REVIEW' AND NOT EXISTS "
            "(SELECT 1 FROM verdicts AS v WHERE v.symbol = m.symbol AND v.timestamp = m.timestamp)"
        ).fetchone()[0]
    return (int(runs[0]), int(runs[1]), int(runs[2]), int(runs[3])), int(pending)


def tallied(catalog: Catalog) -> tuple[tuple[int, int, int, int], int]:
    """The totals and the pending reviews as the catalog answers them."""
    runs, approved, review, dropped, _ = catalog.totals()
    return (runs, approved, review, dropped), catalog.pending_count()


numbers = st.lists(st.integers(1, 8), max_size=12)
step_strategy = st.one_of(
    st.tuples(st.just("add"), numbers),
    st.tuples(st.just("decide"), st.integers(1, 8), st.sampled_from(SYMBOLS)),
    st.tuples(st.just("rebuild"), numbers),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    grades=st.lists(
        st.lists(st.sampled_from(GRADES), min_size=1, max_size=3), min_size=8, max_size=8
    ),
    steps=st.lists(step_strategy, max_size=8),
)
def test_the_tallies_match_a_full_count(
    tmp_path_factory: pytest.TempPathFactory, grades: list[list[str]], steps: list[Any]
) -> None:
    """After any adds (a run added again replaces it), decisions and rebuilds, the tallies
    equal a count over every row."""
    path = tmp_path_factory.mktemp("tallies") / "catalog.sqlite3"
    catalog = Catalog(path, durable=False)
    catalog.check()  # made, as its writer's recovery makes it
    runs = {n: entry(n, tuple(grades[n - 1])) for n in range(1, 9)}
    for seq, step in enumerate(steps, start=1):
        if step[0] == "add":
            for n in step[1]:
                catalog.add_runs([runs[n]])
        elif step[0] == "decide":
            catalog.add_decisions([decision(seq, step[1], step[2], "APPROVED")])
        else:
            catalog.rebuild([runs[n] for n in sorted(set(step[1]))], [])
        assert tallied(catalog) == counted(path)
    catalog.close()


def test_a_version_5_catalog_is_rebuilt_with_its_models_by_run(tmp_path: Path) -> None:
    """A catalog whose models were stored by symbol (version 5) is rebuilt from the run
    folders and decisions/ at the writer's start: every record, decision and verdict kept."""
    archive = TrainingArchiveManager(tmp_path / "a")
    archive.archive_training_run(make_summary("a"))
    archive.archive_training_run(make_summary("b"))
    archive.decide("latest", "SYM1", "approve", by="ann", reason="ok")
    archive.decide("latest", "SYM1", "drop", by="bob", reason="no")
    expected = (archive.decisions(), archive.get_symbol_history("SYM1"), archive.list_runs())
    archive.close()
    with sqlite3.connect(archive.catalog_path) as connection:  # what version 5 looked like
        connection.executescript(
            "DROP INDEX models_by_symbol; ALTER TABLE models RENAME TO m6;"
            "CREATE TABLE models (symbol TEXT NOT NULL, timestamp TEXT NOT NULL,"
            " position INTEGER NOT NULL, classification TEXT NOT NULL, body TEXT NOT NULL,"
            " PRIMARY KEY (symbol, timestamp)) WITHOUT ROWID;"
            "INSERT INTO models SELECT * FROM m6; DROP TABLE m6;"
            "CREATE INDEX models_by_run ON models (timestamp, position);"
            "PRAGMA user_version=5;"
        )
    fresh = TrainingArchiveManager(tmp_path / "a")
    assert (fresh.decisions(), fresh.get_symbol_history("SYM1"), fresh.list_runs()) == expected
    with sqlite3.connect(archive.catalog_path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
    assert "models_by_symbol" in names
    assert "models_by_run" not in names
    fresh.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, SCHEMA_VERSION + 1])
def test_another_version_is_damage(tmp_path: Path, version: int) -> None:
    """A catalog of any other version must be rebuilt."""
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version={version}")
    with pytest.raises(CatalogDamagedError, match=f"schema {version}"):
        Catalog(path).check()


def test_statements_keep_a_trigger_whole() -> None:
    """The schema splits into statements, each complete, a trigger's body in one piece."""
    found = statements(SCHEMA)
    assert all(sqlite3.complete_statement(statement) for statement in found)
    triggers = [s for s in found if s.startswith("CREATE TRIGGER")]
    assert len(triggers) == 2
    assert all(s.endswith("END;") for s in triggers)


def test_the_counts_scan_no_run_and_no_model(tmp_path: Path) -> None:
    """totals() and pending_count() read the tallies and walk the verdicts, never the runs
    or the models (the plan SQLite makes here, without statistics, is the plan at 1M)."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.add_runs([entry(1, ("REVIEW", "DROP"))])
    catalog.add_decisions([decision(1, 1, "A", "DROP")])
    connection = catalog._connect()
    assert connection is not None
    executed: list[str] = []
    connection.set_trace_callback(executed.append)
    assert catalog.totals()[:4] == (1, 0, 1, 1)
    assert catalog.pending_count() == 0
    connection.set_trace_callback(None)
    plans = [
        str(row[3]) for sql in executed for row in connection.execute("EXPLAIN QUERY PLAN " + sql)
    ]
    assert plans
    allowed = ("SCAN tallies", "SCAN CONSTANT ROW", "SCAN v ")
    assert not [p for p in plans if p.startswith("SCAN") and not p.startswith(allowed)], plans
