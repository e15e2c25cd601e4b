"""Tests for gating.index: the one-run-per-line index format read as a stream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating.index import (
    entry_line,
    index_run_lines,
    line_keys,
    line_model_json,
    line_timestamp,
    parse_journal,
    render_index,
    symbol_key,
)

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
    assert line_keys(line) == ("20240101T000000000000Z", SHA)


@given(
    run_id=st.one_of(st.none(), st.text()),
    symbol=st.text(min_size=1),
    fitness=st.floats(allow_nan=False),
)
def test_line_model_finds_exactly_the_symbol(
    run_id: str | None, symbol: str, fitness: float
) -> None:
    """Any run_id and symbol text: the symbol's record is found, another symbol's is not."""
    line = entry_line(
        entry("20240101T000000000000Z", run_id, {symbol: model(fitness), "X" + symbol: model(0.5)})
    )
    found = line_model_json(line, symbol_key(symbol))
    assert found is not None
    assert json.loads(found) == {
        "timestamp": "20240101T000000000000Z",
        "run_id": run_id,
        **model(fitness),
    }
    assert line_model_json(line, symbol_key(symbol + "\x00")) is None
    assert line_keys(line) == ("20240101T000000000000Z", SHA)
    assert line_timestamp(line) == "20240101T000000000000Z"


@pytest.mark.parametrize(
    ("data", "count", "consumed"),
    [
        (b"", 0, 0),
        (entry_line(entry("20240101T000000000000Z", "a", {})) + b"\n", 1, None),
        (b'{"timestamp": "2024', 0, 0),
        (
            b'{"timestamp": "2024\n' + entry_line(entry("20240101T000000000000Z", "a", {})) + b"\n",
            1,
            None,
        ),
    ],
)
def test_parse_journal_skips_torn_lines(data: bytes, count: int, consumed: int | None) -> None:
    """Complete, readable lines count; a torn tail is not consumed, a torn middle skipped."""
    records, used = parse_journal(data)
    assert len(records) == count
    assert used == (len(data) if consumed is None else consumed)
