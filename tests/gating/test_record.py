"""Tests for gating.record: model_assessments.json's bytes, one model per line."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from gating import ModelGatingConfig
from gating.archive.commit import prepare_run
from gating.record import render_record
from gating.run import gate_summary
from tests.conftest import make_summary


def record_of(symbols: int, reward_scale: float = 1.0) -> dict[str, Any]:
    """The record of a run of ``symbols`` models, as an archive renders it."""
    summary = make_summary("r", symbols, reward_scale=reward_scale)
    prepared = prepare_run(summary, ModelGatingConfig(), max_bytes=1 << 30)
    run = gate_summary(
        prepared.summary, prepared.config, "20260101T000000000000Z", None,
        assessments=prepared.assessments,
    )  # fmt: skip
    return run.to_record()


@pytest.mark.parametrize("symbols", [1, 3, 500])
def test_the_record_reads_back_with_a_model_a_line(symbols: int) -> None:
    """The bytes parse back to the record, its models one to a line between the head's
    line and the closing one."""
    record = record_of(symbols)
    rendered = render_record(record)
    assert json.loads(rendered) == record
    lines = rendered.splitlines()
    assert len(lines) == symbols + 2
    assert [json.loads(line.rstrip(b",")) for line in lines[1:-1]] == record["models"]


def test_an_infinite_number_is_written_by_the_standard_encoder() -> None:
    """orjson would write Infinity as null: the record is written as Python's JSON does."""
    record = record_of(3, reward_scale=math.inf)
    rendered = render_record(record)
    assert b"Infinity" in rendered
    assert json.loads(rendered) == record
