"""The champion comparison in the archive: at commit time, in group order, kept in the record."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gating import ModelGatingConfig, TrainingArchiveManager
from gating.archive.champions import GroupChampions
from gating.archive.commit import prepare_run
from gating.run import gate_summary, run_from_record
from gating.summary import parse_summary
from gating.verdicts import Champion

TABLE = ModelGatingConfig(champion_tolerances={"fitness": 0.02})


def summary(run_id: str, fitness: float, **more: dict[str, Any]) -> dict[str, Any]:
    """A summary whose AAPL model passes every bound with the given fitness."""
    model = {"fitness": fitness, "pf": 1.9, "consistency": 0.88, "max_dd": 0.06}
    return {"run_id": run_id, "models": {"AAPL": model, **more}}


def record(run_path: Path | None) -> dict[str, Any]:
    """A run's model_assessments.json."""
    assert run_path is not None
    data: dict[str, Any] = json.loads((run_path / "model_assessments.json").read_bytes())
    return data


def classes(archive: TrainingArchiveManager) -> list[tuple[str, list[str]]]:
    """AAPL's class and flags in every run, oldest first."""
    return [(h["classification"], h["flags"]) for h in archive.get_symbol_history("AAPL")]


def test_first_run_has_no_champion_and_passes(tmp_path: Path) -> None:
    """The first run of a symbol passes; its record says there was no champion."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    run = archive.archive_training_run(summary("a", 0.71))
    assert run.approved_count == 1
    model = record(run.path)["models"][0]
    assert model["champion"]["timestamp"] is None
    assert record(run.path)["config"]["champion"] == {"fitness": 0.02}


def test_runs_of_one_group_see_each_other_in_order(tmp_path: Path) -> None:
    """The second AAPL run of a group compares with the first, which became champion."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    runs = archive.archive_training_runs(
        [summary("a", 0.90), summary("b", 0.85), summary("c", 0.882), summary("d", 0.87)]
    )
    assert classes(archive) == [
        ("APPROVED", []),
        ("REVIEW", ["BELOW_CHAMPION"]),  # 5.6% below a's 0.90
        ("APPROVED", []),  # exactly 2% below a's 0.90: passes, and is the champion now
        ("APPROVED", []),  # 1.4% below c's 0.882
    ]
    champion = record(runs[3].path)["models"][0]["champion"]
    assert champion["timestamp"] == runs[2].timestamp
    assert champion["metrics"]["fitness"] == 0.882


def test_groups_compare_with_the_catalogs_champion(tmp_path: Path) -> None:
    """A later commit compares with the champion the catalog holds, verdicts included."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    first = archive.archive_training_run(summary("a", 0.90))
    second = archive.archive_training_run(summary("b", 0.80))
    assert second.review_count == 1
    (item,) = archive.pending_reviews()
    assert item.reasons == (
        f"fitness 0.80 is 11.1% below the champion's 0.90 from {first.timestamp} (at most 2%)",
    )
    archive.decide(second.timestamp, "AAPL", "approve", by="ann", reason="new regime")
    third = archive.archive_training_run(summary("c", 0.79))
    assert third.approved_count == 1  # 1.25% below b's 0.80, champion by decision
    assert record(third.path)["models"][0]["champion"]["timestamp"] == second.timestamp


def test_a_dropped_champion_is_not_compared_with(tmp_path: Path) -> None:
    """Dropping the champion by decision makes the previous APPROVED model champion again."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    first = archive.archive_training_run(summary("a", 0.80))
    second = archive.archive_training_run(summary("b", 0.90))
    archive.decide(second.timestamp, "AAPL", "drop", by="ann", reason="leak", force=True)
    third = archive.archive_training_run(summary("c", 0.79))
    assert third.approved_count == 1
    assert record(third.path)["models"][0]["champion"]["timestamp"] == first.timestamp


def test_other_symbols_have_their_own_champions(tmp_path: Path) -> None:
    """MSFT's first run has no champion even when AAPL has one."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    archive.archive_training_run(summary("a", 0.90))
    msft = {"fitness": 0.71, "pf": 1.9, "consistency": 0.88, "max_dd": 0.06}
    run = archive.archive_training_run(summary("b", 0.90, MSFT=msft))
    assert run.approved_count == 2


def test_a_group_asks_once_per_run_for_the_symbols_it_has_not_seen() -> None:
    """The champions of a run's new symbols are one lookup; symbols seen are not asked again."""
    asked: list[list[str]] = []

    def lookup(symbols: Collection[str]) -> dict[str, Champion]:
        asked.append(list(symbols))
        return {}

    champions = GroupChampions(lookup)
    model = summary("x", 0.8)["models"]["AAPL"]
    for second, (run_id, more) in enumerate([("a", "MSFT"), ("b", "NVDA"), ("c", "MSFT")]):
        prepared = prepare_run(summary(run_id, 0.8, **{more: model}), TABLE, max_bytes=1 << 20)
        champions.compare(prepared, f"20261207T0000{second:02d}000000Z")
    assert asked == [["AAPL", "MSFT"], ["NVDA"]]


def test_reindex_keeps_the_stored_classification(tmp_path: Path) -> None:
    """reindex reads the record, never the catalog: under an empty table, from nothing."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    archive.archive_training_runs([summary("a", 0.90), summary("b", 0.85)])
    before = classes(archive)
    archive.close()
    (tmp_path / "a" / "catalog.sqlite3").unlink(missing_ok=True)
    plain = TrainingArchiveManager(tmp_path / "a")
    assert plain.reindex() == 2
    assert classes(plain) == before == [("APPROVED", []), ("REVIEW", ["BELOW_CHAMPION"])]
    assert plain.get_approved_models() == []
    assert [r["review"] for r in plain.list_runs()] == [0, 1]


def test_the_record_round_trips(tmp_path: Path) -> None:
    """run_from_record gives back the comparison, and the report says it in words."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    _, second = archive.archive_training_runs([summary("a", 0.90), summary("b", 0.85)])
    loaded = archive.reader.get_run(second.timestamp)
    assert loaded.assessments == second.assessments
    assert loaded.config == TABLE
    assert second.path is not None
    report = (second.path / "recommendations.md").read_text("utf-8")
    assert "## Against the champion" in report
    assert "fitness 0.85 is 5.6% below the champion's 0.90" in report
    assert "`BELOW_CHAMPION`" in report


def test_records_without_champion_data_still_load(tmp_path: Path) -> None:
    """A record written before the champion table (no keys for it) loads as before."""
    archive = TrainingArchiveManager(tmp_path / "a")
    run = archive.archive_training_run(summary("a", 0.90))
    data = record(run.path)
    assert "champion" not in data["config"]
    assert "champion" not in data["models"][0]
    loaded = run_from_record(data)
    assert loaded.assessments[0].champion is None
    assert loaded.config == ModelGatingConfig()


def test_assess_compares_with_todays_champion(tmp_path: Path) -> None:
    """A dry run says what archiving would: REVIEW, below the champion; nothing is written."""
    archive = TrainingArchiveManager(tmp_path / "a", TABLE)
    archive.archive_training_run(summary("a", 0.90))
    dry = archive.assess(summary("b", 0.85))
    assert dry.review_count == 1
    assert len(archive.list_runs()) == 1


def test_a_reloaded_config_brings_its_table(tmp_path: Path) -> None:
    """The table travels with the gating config: replacing it (as SIGHUP does) applies it."""
    archive = TrainingArchiveManager(tmp_path / "a")
    archive.archive_training_run(summary("a", 0.90))
    assert archive.archive_training_run(summary("b", 0.85)).approved_count == 1
    archive.config = TABLE
    assert archive.archive_training_run(summary("c", 0.80)).review_count == 1


fitness = st.floats(0.3, 1.0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(fitness, min_size=1, max_size=6))
def test_an_empty_table_archives_section_2_exactly(tmp_path: Path, values: list[float]) -> None:
    """With the table empty, every archived run is the plain gate's, and records gain no key."""
    root = tmp_path / f"a{len(list(tmp_path.iterdir()))}"
    archive = TrainingArchiveManager(root, durable=False)
    summaries = [summary(f"r{i}-{v}", v) for i, v in enumerate(values)]
    runs = archive.archive_training_runs(summaries)
    for run, data in zip(runs, summaries, strict=True):
        plain = gate_summary(parse_summary(data), ModelGatingConfig(), run.timestamp)
        assert run.assessments == plain.assessments
        stored = record(run.path)
        assert "champion" not in stored["config"]
        assert all("champion" not in model for model in stored["models"])
    archive.close()
