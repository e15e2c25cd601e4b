"""Tests for gating.summary_bytes: the bytes a dict, bytes or text summary is archived as."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gating import SummaryError
from gating.summary_bytes import summary_bytes


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"models": {}}', b'{"models": {}}'),
        (bytearray(b"{}"), b"{}"),
        ('{"run_id": "\u00e9"}', '{"run_id": "\u00e9"}'.encode()),
    ],
    ids=["bytes", "bytearray", "text"],
)
def test_bytes_and_text_are_kept_as_given(data: Any, expected: bytes) -> None:
    """Bytes as they came, text in UTF-8: what a file of them holds."""
    assert summary_bytes(data, 64) == expected


def test_a_dict_is_written_as_indented_json() -> None:
    """The dict's JSON, read back to the same dict."""
    data = {"run_id": "r", "models": {"A": {"fitness": 0.8, "fitness_history": [0.5, None]}}}
    raw = summary_bytes(data, 64)
    assert json.loads(raw) == data
    assert raw.startswith(b"{\n  ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (5, "^file: expected a dict, bytes or str, got int$"),
        ({"models": {1: {}}}, "^models: symbol must be a non-empty string, got 1$"),
        ({"models": {"A": {"fitness": 1j}}}, r"^models\.A\.fitness \(complex\): cannot be"),
    ],
    ids=["an int", "an int symbol", "a complex metric"],
)
def test_what_cannot_be_a_summary_is_one_line(data: Any, message: str) -> None:
    """SummaryError naming the value, never json's TypeError."""
    with pytest.raises(SummaryError, match=message):
        summary_bytes(data, 64)
