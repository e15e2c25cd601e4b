"""Tests for gating.index: the one-run-per-line index format read as a stream."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gating.archive.catalog_rows import entry_rows, history_record, run_line
from gating.index import entry_line, index_run_lines, render_index

SHA = "ab" * 32


def entry(timestamp: str, run_id: str | None, models: dict[str, Any]) -> dict[str, Any]:
    """An index entry in index_entry's key order."""
    return {"timestamp": timestamp, "run_id": run_id, "sha256": SHA, "source": "s",
            "approved": 0, "review": 0, "dropped": 0, "models": models}  # fmt: skip


def model(fitness: float) -> dict[str, Any]:
    """A model decision as the index holds it."""
    return {"classification": "REVIEW", "flags": ["LOW_PF"], "fitness": fitness,
            "profit_factor": float("inf"), "consistency": None, "max_drawdown": 0.1,
            "use_checkpoint": False, "best_idx": None, "checkpoint_step": None}  # fmt: skip


def test_rendered_index_is_json_and_streams_back() -> None:
    """render_index output parses as JSON and index_run_lines yields the same lines."""
    lines = [entry_line(entry(f"20240101T00000000000{i}Z", f"r{i}", {})) for i in range(3)]
    data = b"".join(render_index(lines))
    assert [r["run_id"] for r in json.loads(data)["runs"]] == ["r0", "r1", "r2"]
    assert list(index_run_lines(data.splitlines(keepends=True))) == lines
    assert list(index_run_lines(b"".join(render_index([])).splitlines(keepends=True))) == []


def test_hand_written_index_is_parsed_whole() -> None:
    """An index not in the one-line form still yields its runs."""
    document = {"runs": [entry("20240101T000000000000Z", "x", {})], "format": 1}
    text = json.dumps(document, indent=2).encode()
    (line,) = index_run_lines(text.splitlines(keepends=True))
    assert json.loads(line)["sha256"] == SHA


@given(
    run_id=st.one_of(st.none(), st.text()),
    symbol=st.text(min_size=1),
    fitness=st.floats(allow_nan=False),
)
def test_catalog_rows_give_back_the_index_line_and_history_record(
    run_id: str | None, symbol: str, fitness: float
) -> None:
    """Any run_id and symbol text: the catalog's rows rebuild the exact index line and record."""
    full = entry(
        "20240101T000000000000Z", run_id, {symbol: model(fitness), "X" + symbol: model(0.5)}
    )
    run, models = entry_rows(full)
    line = run_line(run, [(row[0], row[4]) for row in models])
    assert b"\n" not in line
    assert json.loads(line) == json.loads(entry_line(full))
    assert [row[:4] for row in models] == [
        (symbol, "20240101T000000000000Z", 0, "REVIEW"),
        ("X" + symbol, "20240101T000000000000Z", 1, "REVIEW"),
    ]
    record = history_record(full["timestamp"], run_id, models[0][4])
    assert json.loads(record) == {
        "timestamp": "20240101T000000000000Z",
        "run_id": run_id,
        **model(fitness),
    }
