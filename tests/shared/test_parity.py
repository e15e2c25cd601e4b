"""The library's API (SPEC 4 and 8) on both kinds of archive: a folder, and the shared
database. Each test runs on both (a fixture parameter) and must see the same answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gating import (
    ArgumentError,
    DecisionError,
    ModelGatingConfig,
    RunNotFoundError,
    SummaryError,
    SymbolNotFoundError,
    TrainingArchiveManager,
)
from gating.shared.archive import SharedArchive
from tests.conftest import make_model, make_summary
from tests.pg import Cluster
from tests.shared.conftest import TEMPLATE


def _new_archive(
    request: pytest.FixtureRequest, tmp_path: Path, config: ModelGatingConfig | None = None
) -> TrainingArchiveManager:
    """A new, empty archive of the kind the fixture parameter names."""
    if request.param == "folder":
        return TrainingArchiveManager(tmp_path / "archive", config)
    cluster: Cluster = request.getfixturevalue("cluster")
    return SharedArchive(cluster.create_database(TEMPLATE), config, retry_seconds=20)


@pytest.fixture(params=["folder", "shared"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrainingArchiveManager]:
    """A new, empty archive of each kind."""
    made = _new_archive(request, tmp_path)
    yield made
    made.close()


@pytest.fixture(params=["folder", "shared"])
def compared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrainingArchiveManager]:
    """A new, empty archive of each kind that holds runs against their champions."""
    made = _new_archive(request, tmp_path, ModelGatingConfig(champion_tolerances={"fitness": 0.02}))
    yield made
    made.close()


def _without_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in ("timestamp", "decided_at")} for row in rows]


def test_the_same_bytes_are_one_run(archive: TrainingArchiveManager) -> None:
    """Archiving the same bytes twice: one run, the second answer a duplicate of it."""
    data = json.dumps(make_summary("a")).encode()
    first = archive.archive_training_run(data, source="in/a_summary.json")
    again = archive.archive_training_run(data)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.timestamp == first.timestamp
    assert (first.approved_count, first.review_count, first.dropped_count) == (1, 1, 1)
    assert _without_times(archive.list_runs()) == [
        {"run_id": "a", "source": "in/a_summary.json", "approved": 1, "review": 1, "dropped": 1}
    ]


def test_a_duplicate_is_answered_as_its_run_was_gated(archive: TrainingArchiveManager) -> None:
    """The same bytes again are answered with the run as archived, held against the
    champion of then, not gated again now (a retry read APPROVED for a REVIEW run)."""
    archive.config = ModelGatingConfig(champion_tolerances={"fitness": 0.02})
    archive.archive_training_run({"run_id": "champion", "models": {"A": make_model(0.95)}})
    data = json.dumps({"run_id": "behind", "models": {"A": make_model(0.80)}}).encode()
    first = archive.archive_training_run(data)
    assert (first.approved_count, first.review_count) == (0, 1)
    archive.config = ModelGatingConfig(approved_min_fitness=0.9)  # stricter since, too
    again = archive.archive_training_run(data)
    assert again.duplicate is True
    assert (again.timestamp, again.approved_count, again.review_count) == (first.timestamp, 0, 1)
    assert [str(f) for f in again.assessments[0].flags] == ["BELOW_CHAMPION"]
    assert again.config == first.config


def test_queries_answer_alike(archive: TrainingArchiveManager) -> None:
    """approved, history, the review queue and the deployable set over five runs."""
    runs = archive.archive_training_runs(
        [make_summary(f"r{i}", symbols=4 + i % 2) for i in range(5)]
    )
    assert [r.timestamp for r in runs] == sorted({r.timestamp for r in runs})
    assert archive.get_approved_models() == ["SYM0", "SYM3"]
    assert archive.get_approved_models(runs[0].timestamp) == ["SYM0", "SYM3"]
    history = archive.get_symbol_history("SYM1")
    assert [h["timestamp"] for h in history] == [r.timestamp for r in runs]
    assert {h["verdict"] for h in history} == {"REVIEW"}
    assert history[0]["decision"] is None
    assert history[0]["fitness"] == 0.6
    assert len(archive.get_symbol_history("SYM1", last=2)) == 2
    queue = archive.pending_reviews()
    assert [(p.timestamp, p.symbol) for p in queue][:3] == [
        (runs[-1].timestamp, "SYM1"), (runs[-2].timestamp, "SYM1"), (runs[-2].timestamp, "SYM4")
    ]  # fmt: skip
    assert queue[0].reasons == ("fitness 0.60 < 0.70", "profit_factor 1.50 < 1.80",
                                "consistency 0.70 < 0.85", "max_drawdown 0.10 > 0.08")  # fmt: skip
    deployable = archive.get_deployable()
    assert sorted(deployable) == ["SYM0", "SYM3"]
    assert deployable["SYM0"].timestamp == runs[-1].timestamp
    assert archive.get_deployable(at=runs[1].timestamp)["SYM0"].timestamp == runs[1].timestamp
    with pytest.raises(RunNotFoundError):
        archive.get_approved_models("20000101T000000000000Z")


def test_decisions_change_verdicts_champions_and_the_audit(
    archive: TrainingArchiveManager,
) -> None:
    """Approve a REVIEW model, drop the gate's champion (forced): the verdicts, the
    deployable set, the history and the audit trail follow; bad decisions are refused."""
    runs = archive.archive_training_runs([make_summary(f"r{i}") for i in range(3)])
    first = archive.decide(runs[0].timestamp[:-1], "SYM1", "approve", by="ann", reason="ok")
    assert (first.seq, first.verdict, first.previous, first.override) == (
        1,
        "APPROVED",
        "REVIEW",
        False,
    )
    assert [e["type"] for e in first.events] == ["model_approved", "champion_changed"]
    with pytest.raises(DecisionError):
        archive.decide("latest", "SYM0", "drop", by="bob", reason="regime change")
    with pytest.raises(DecisionError):
        archive.decide("latest", "SYM1", "approve", by="bob", reason=" ")
    with pytest.raises(SymbolNotFoundError):
        archive.decide("latest", "NOPE", "approve", by="bob", reason="x")
    dropped = archive.decide("latest", "SYM0", "drop", by="bob", reason="regime", force=True)
    assert dropped.override
    assert archive.get_approved_models() == []
    deployable = archive.get_deployable()
    assert deployable["SYM0"].timestamp == runs[1].timestamp
    assert deployable["SYM1"].timestamp == runs[0].timestamp
    assert deployable["SYM1"].decision is not None
    assert [h["verdict"] for h in archive.get_symbol_history("SYM0")] == [
        "APPROVED", "APPROVED", "DROP"
    ]  # fmt: skip
    audit = archive.decisions()
    assert [(d.seq, d.symbol, d.verdict, d.by) for d in audit] == [
        (1, "SYM1", "APPROVED", "ann"), (2, "SYM0", "DROP", "bob")
    ]  # fmt: skip
    assert [d.symbol for d in archive.decisions("SYM0")] == ["SYM0"]
    assert audit[0].decided_at < audit[1].decided_at
    assert all(p.symbol != "SYM1" or p.timestamp != runs[0].timestamp
               for p in archive.pending_reviews())  # fmt: skip


def test_an_invalid_summary_writes_nothing(archive: TrainingArchiveManager) -> None:
    """SummaryError, and no run."""
    with pytest.raises(SummaryError):
        archive.archive_training_run({"models": {"X": make_model(fitness="high")}})  # type: ignore[arg-type]
    assert archive.list_runs() == []


def test_a_nul_in_a_run_id_or_a_symbol_is_a_summary_error_in_both(
    archive: TrainingArchiveManager,
) -> None:
    """A NUL (\\u0000) in run_id or a symbol is SummaryError in both archives (a shared
    archive failed on it for good: PostgreSQL text holds no NUL; a folder took it)."""
    for summary in (
        {"run_id": "a\x00b", "models": {"X": make_model()}},
        {"models": {"X\x00": make_model()}},
    ):
        with pytest.raises(SummaryError, match="holds a NUL character"):
            archive.archive_training_run(summary)
    assert archive.list_runs() == []


def test_wrong_arguments_are_refused_alike(
    request: pytest.FixtureRequest, archive: TrainingArchiveManager, tmp_path: Path
) -> None:
    """ArgumentError for a float `last`, a None symbol and a dict for the rules, in both
    (the shared archive took a dict for its rules and failed at every run later)."""
    archive.archive_training_run(make_summary("r"))
    with pytest.raises(ArgumentError, match=r"last: 2\.5 is not a whole number"):
        archive.list_runs(2.5)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="symbol: None is not text"):
        archive.get_symbol_history(None)  # type: ignore[arg-type]
    rules: Any = {"min_fitness": 0.9}
    if isinstance(archive, SharedArchive):
        url = request.getfixturevalue("cluster").create_database(TEMPLATE)
        with pytest.raises(ArgumentError, match="config: a dict, not a ModelGatingConfig"):
            SharedArchive(url, rules)
    else:
        with pytest.raises(ArgumentError, match="config: a dict, not a ModelGatingConfig"):
            TrainingArchiveManager(tmp_path / "other", rules)
    assert [r["run_id"] for r in archive.list_runs()] == ["r"]


def test_regate_answers_alike(archive: TrainingArchiveManager) -> None:
    """The what-if over the stored summaries: the same counts and changes in both."""
    runs = archive.archive_training_runs([make_summary(f"r{i}") for i in range(4)])
    archive.decide(runs[0].timestamp, "SYM1", "approve", by="ann", reason="ok")
    stricter = ModelGatingConfig(approved_min_fitness=0.8)
    report = archive.regate(stricter)
    document = report.as_document()
    assert (document["runs"], document["models"]) == (4, 12)
    assert document["counts"]["APPROVED"] == {"now": 4, "other": 0}
    assert [(c["timestamp"], c["symbol"]) for c in document["changes"]][:1] == [
        (runs[0].timestamp, "SYM0")
    ]
    since = archive.regate(stricter, since=runs[2].timestamp).as_document()
    assert since["runs"] == 2


def test_a_wide_group_is_held_against_each_symbols_champion(
    compared: TrainingArchiveManager,
) -> None:
    """Runs of many symbols, in one group and after it, are each held against the champion
    of every one of their symbols (looked up together) as they stand at commit."""
    symbols = [f"S{i:03d}" for i in range(60)]

    def run(run_id: str, fitness: dict[str, float]) -> bytes:
        models = {s: make_model(fitness.get(s, 0.8)) for s in symbols}
        return json.dumps({"run_id": run_id, "models": models}).encode()

    compared.archive_training_runs(
        [run("a", {}), run("b", {"S007": 0.7, "S042": 0.9})]  # b: S007 falls, S042 rises
    )
    later = compared.archive_training_run(run("c", {"S042": 0.8, "S050": 0.7}))
    got = {a.symbol: (str(a.classification), tuple(map(str, a.flags))) for a in later.assessments}
    below = ("REVIEW", ("BELOW_CHAMPION",))
    assert got.pop("S042") == below  # 11% below b's 0.9
    assert got.pop("S050") == below  # 12.5% below a's 0.8
    assert set(got.values()) == {("APPROVED", ())}
    history = compared.get_symbol_history("S007")
    assert [h["classification"] for h in history] == ["APPROVED", "REVIEW", "APPROVED"]
    found = compared.reader.catalog.champions(symbols=["S042", "NONE", "S042", "S007"])
    assert {s: c.run_id for s, c in found.items()} == {"S007": "c", "S042": "b"}
    assert compared.reader.catalog.champions(symbols=[]) == {}
