"""Tests for gating.archive.catalog_rows: a run_id written without orjson."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gating.archive.catalog_rows import run_id_json


@given(st.text())
def test_a_run_id_is_written_as_orjson_writes_it(run_id: str) -> None:
    """Any text, escapes and all, comes out as orjson's own text for it (the standard
    encoder's where orjson refuses it: a lone surrogate)."""
    try:
        expected = orjson.dumps(run_id).decode()
    except orjson.JSONEncodeError:
        expected = None
    assert expected is None or run_id_json(run_id) == expected


def test_a_run_id_that_is_not_text_is_written_as_json() -> None:
    """SQLite keeps any type in a column: an integer or a float run_id written into the
    catalog by hand comes out as the JSON number the standard encoder writes, not as text
    and not as a traceback."""
    assert run_id_json(7) == "7"  # type: ignore[arg-type]
    assert run_id_json(2**70) == str(2**70)  # type: ignore[arg-type]  # beyond orjson's 64 bits
    assert json.loads(run_id_json(float("inf"))) == float("inf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("run_id", "text"),
    [(None, "null"), ("r-1", '"r-1"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'),
     ("tab\there", '"tab\\there"'), ("\x7f", '"\x7f"'), ("\u00a0", '"\u00a0"'),
     ("Ä😀", '"Ä😀"')],
)  # fmt: skip
def test_run_ids_at_the_edges_of_the_plain_path(run_id: str | None, text: str) -> None:
    """None, plain text, and what must be escaped or is merely unprintable."""
    assert run_id_json(run_id) == text
