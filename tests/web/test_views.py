"""Tests for daemon.web.views: pure shaping of documents for the pages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from daemon.web.views import (
    RUN_PAGE_MODELS,
    fmt,
    home_view,
    reason_list,
    run_view,
    symbol_url,
    symbol_view,
)
from gating import TrainingArchiveManager
from tests.conftest import make_model
from tests.web.test_charts import BOUNDS


def test_fmt_and_urls() -> None:
    """Numbers are short, missing is '-', infinity is 'inf'; symbol URLs are escaped."""
    assert [fmt(None), fmt(math.nan), fmt(math.inf), fmt(0.123456), fmt(3)] == [
        "-",
        "-",
        "inf",
        "0.1235",
        "3",
    ]
    assert symbol_url("BTC/USD") == "/symbols/BTC%2FUSD"
    assert symbol_url("<x>") == "/symbols/%3Cx%3E"


def test_reason_list_takes_any_shape() -> None:
    """A string, a list or a mapping of reasons becomes lines."""
    assert reason_list(None) == []
    assert reason_list("consistency 0.80 < 0.85") == ["consistency 0.80 < 0.85"]
    assert reason_list(["a", "b"]) == ["a", "b"]
    assert reason_list({"fitness": "0.6 < 0.7"}) == ["fitness: 0.6 < 0.7"]


def test_home_view_newest_first() -> None:
    """Latest runs come newest first; champions are sorted by symbol."""
    runs = [{"timestamp": "t1"}, {"timestamp": "t2"}]
    deployable = {"B": {"timestamp": "t2", "verdict_by": "gate"}, "A": {"timestamp": "t1"}}
    view = home_view(runs, 10, deployable, 3, {"health": "healthy"})
    assert [r["timestamp"] for r in view["runs"]] == ["t2", "t1"]
    assert [c["symbol"] for c in view["champions"]] == ["A", "B"]
    assert view["review_count"] == 3
    assert home_view(runs, 2, {}, 0, {})["champions"] == []


def test_run_view_groups_by_class_with_verdicts(archive: TrainingArchiveManager) -> None:
    """Models are grouped APPROVED, REVIEW, DROP; a decision changes the shown verdict."""
    first = archive.list_runs()[0]["timestamp"]
    record = archive.reader.get_run(first).to_record()
    view = run_view(record, {"AAPL": {"verdict": "APPROVED", "by": "ann", "reason": "ok"}})
    assert [g["name"] for g in view["groups"]] == ["APPROVED", "REVIEW"]
    aapl = view["groups"][1]["models"][0]
    assert (aapl["symbol"], aapl["classification"], aapl["verdict"]) == (
        "AAPL",
        "REVIEW",
        "APPROVED",
    )
    btc = view["groups"][0]["models"][0]
    assert btc["advice"] == "restore the checkpoint at step 3,000 (validation point 3)"
    assert [m["approved"] for m in btc["metrics"]] == ["≥ 0.7", "≥ 1.8", "≥ 0.85", "≤ 0.08"]
    assert btc["flags"][0]["flag"] == "FITNESS_DECLINE"


def test_symbol_view_marks_champion_and_offers_more() -> None:
    """The champion's row is marked; 'more' appears only when runs are hidden."""
    records: list[dict[str, Any]] = [
        {"timestamp": f"t{i}", "classification": "APPROVED", "fitness": 0.8, "decision": None}
        for i in range(3)
    ]
    records[1]["decision"] = {"by": "ann", "reason": "r"}
    records[1]["verdict"] = "DROP"
    view = symbol_view("S", records, 10, BOUNDS, champion="t2", shown=3)
    assert [r["timestamp"] for r in view["rows"]] == ["t2", "t1", "t0"]
    assert view["rows"][0]["champion"]
    assert not view["rows"][1]["champion"]
    assert view["rows"][1]["verdict"] == "DROP"
    assert (view["more"], view["more_url"]) == (10, "/symbols/S?last=10")
    assert symbol_view("S", records, 3, BOUNDS, champion=None, shown=50)["more"] is None
    dots = symbol_view("..", records, 10, BOUNDS, champion=None, shown=3)
    assert dots["more_url"] == "/symbols/?symbol=..&last=10"  # the symbol kept (it was lost)


@pytest.mark.parametrize(
    ("review", "shown", "more"),
    [(RUN_PAGE_MODELS, RUN_PAGE_MODELS, 0), (RUN_PAGE_MODELS + 51, RUN_PAGE_MODELS, 51)],
)
def test_a_run_page_shows_at_most_run_page_models_of_a_class(
    tmp_path: Path, review: int, shown: int, more: int
) -> None:
    """A class of more models than RUN_PAGE_MODELS shows that many and counts the rest
    (a run of 100,000 models made a 142 MB page); the other classes are whole."""
    models = {f"R{i:05d}": make_model(0.6) for i in range(review)}
    models["TOP"] = make_model()
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    run = archive.archive_training_run(json.dumps({"models": models}).encode())
    view = run_view(run.to_record(), {})
    groups = {g["name"]: g for g in view["groups"]}
    assert (len(groups["APPROVED"]["models"]), groups["APPROVED"]["more"]) == (1, 0)
    assert (len(groups["REVIEW"]["models"]), groups["REVIEW"]["more"]) == (shown, more)
    assert groups["REVIEW"]["models"][-1]["symbol"] == f"R{shown - 1:05d}"  # in run order
    archive.close()
