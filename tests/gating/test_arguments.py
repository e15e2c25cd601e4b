"""Tests for gating.arguments: what the library's calls refuse, the archive left untouched."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gating import ArgumentError, ModelGatingConfig, TrainingArchiveManager
from gating.arguments import SOURCE_CHARS, count, folder, gating_config, source, text, workers
from tests.conftest import make_summary


class _Index:
    """An integer that is not an int (as numpy's int64 is): operator.index takes it."""

    def __index__(self) -> int:
        return 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, 0), (7, 7), (_Index(), 3), (10**30, 2**62)],
    ids=["none", "zero", "seven", "an __index__", "past every run"],
)
def test_a_count_of_runs(value: object, expected: int | None) -> None:
    """None, whole numbers from 0 and integer-like numbers pass; a huge one means all."""
    assert count("last", value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "last: 2.5 is not a whole number"),
        ("3", "last: '3' is not a whole number"),
        (-3, "last: -3 is negative"),
        (True, "last: True is not a whole number"),
    ],
)
def test_what_is_not_a_count(value: object, message: str) -> None:
    """Each is ArgumentError, a TypeError and a ValueError, naming the argument."""
    with pytest.raises(ArgumentError, match=f"^{message}$") as raised:
        count("last", value)
    assert isinstance(raised.value, TypeError)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, r"symbol: None is not text \(type NoneType\)"),
        (b"AAPL", r"symbol: b'AAPL' is not text \(type bytes\)"),
        ("A\ud800", re.escape("symbol: 'A\\ud800' holds a lone surrogate")),
        ("A\x00", re.escape("symbol: 'A\\x00' holds a NUL")),
    ],
)
def test_what_is_not_text(value: object, message: str) -> None:
    """Not a str, or a str no file or database could hold."""
    with pytest.raises(ArgumentError, match=message):
        text("symbol", value)


@pytest.mark.parametrize(
    ("value", "refused"), [(None, False), (1, False), (256, False), (0, True), (257, True)]
)
def test_workers_run_from_one_to_256(value: int | None, refused: bool) -> None:
    """None is the default; a pool forks every worker at once, so 257 and more are refused."""
    if refused:
        with pytest.raises(ArgumentError, match=f"^workers: {value}, from 1 to 256$"):
            workers(value)
    else:
        assert workers(value) == value


def test_folders_and_configs() -> None:
    """A path-like is a folder, None and a NUL are not; only a ModelGatingConfig is rules."""
    assert folder("archive_dir", Path("/a")) == "/a"
    for value in (None, 5, "a\x00b", b"/a"):
        with pytest.raises(ArgumentError, match="archive_dir"):
            folder("archive_dir", value)
    rules = ModelGatingConfig()
    assert gating_config("config", rules) is rules
    assert gating_config("config", None) is None
    with pytest.raises(ArgumentError, match="from_mapping"):
        gating_config("config", {"min_fitness": 0.7})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("in/a_summary.json", "in/a_summary.json"),
        (Path("/in/a_summary.json"), "/in/a_summary.json"),
        (b"/in/\xff_summary.json", "/in/\udcff_summary.json"),
    ],
    ids=["none", "str", "Path", "bytes not UTF-8"],
)
def test_a_source_is_a_path_as_text(value: object, expected: str | None) -> None:
    """A str, a Path or bytes (as os.fsdecode reads them); None is no source."""
    assert source(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, r"source: 5 is not a path \(type int\)"),
        ("a\x00b", "source: holds a NUL"),
        (
            "x" * (SOURCE_CHARS + 1),
            f"source: {SOURCE_CHARS + 1} characters, at most {SOURCE_CHARS}",
        ),
    ],
    ids=["int", "NUL", "too long"],
)
def test_a_source_that_is_no_path_is_refused_before_anything_is_written(
    tmp_path: Path, value: object, message: str
) -> None:
    """ArgumentError, nothing archived (a Path or an int crashed the render as a bare
    AttributeError once the summary was accepted; a NUL and a megabyte were kept)."""
    manager = TrainingArchiveManager(tmp_path / "archive")
    with pytest.raises(ArgumentError, match=message):
        manager.archive_training_run(make_summary("r"), source=value)  # type: ignore[arg-type]
    assert manager.list_runs() == []


Call = Callable[[TrainingArchiveManager, str], Any]
CALLS: list[tuple[str, Call]] = [
    ("list_runs(2.5)", lambda m, _: m.list_runs(2.5)),  # type: ignore[arg-type]
    ("list_runs(-3)", lambda m, _: m.list_runs(-3)),
    ("get_approved_models(Path)", lambda m, ts: m.get_approved_models(Path(ts))),  # type: ignore[arg-type]
    ("get_symbol_history(None)", lambda m, _: m.get_symbol_history(None)),  # type: ignore[arg-type]
    ("history last=2.5", lambda m, _: m.get_symbol_history("SYM0", last=2.5)),  # type: ignore[arg-type]
    ("decisions(5)", lambda m, _: m.decisions(5)),  # type: ignore[arg-type]
    ("pending_reviews('2')", lambda m, _: m.pending_reviews("2")),  # type: ignore[arg-type]
    ("get_deployable(5)", lambda m, _: m.get_deployable(5)),  # type: ignore[arg-type]
    ("reader.list_runs(2.5)", lambda m, _: m.reader.list_runs(2.5)),  # type: ignore[arg-type]
    ("reader approved Path", lambda m, ts: m.reader.get_approved_models(Path(ts))),  # type: ignore[arg-type]
    ("regate workers='2'", lambda m, _: m.regate(ModelGatingConfig(), workers="2")),  # type: ignore[arg-type]
    ("regate workers=0", lambda m, _: m.regate(ModelGatingConfig(), workers=0)),
    ("regate workers=10**30", lambda m, _: m.regate(ModelGatingConfig(), workers=10**30)),
    ("regate progress=5", lambda m, _: m.regate(ModelGatingConfig(), progress=5)),  # type: ignore[arg-type]
    ("reindex(progress=5)", lambda m, _: m.reindex(progress=5)),  # type: ignore[arg-type]
    ("reindex(cancelled=5)", lambda m, _: m.reindex(cancelled=5)),  # type: ignore[arg-type]
    (
        "decide seen='3'",
        lambda m, ts: m.decide(ts, "SYM0", "approve", by="me", reason="r", seen="3"),  # type: ignore[arg-type]
    ),
    ("archive_training_runs(None)", lambda m, _: m.archive_training_runs(None)),  # type: ignore[arg-type]
    ("archive_training_runs(a dict)", lambda m, _: m.archive_training_runs(make_summary("x"))),
    ("archive_training_runs(bytes)", lambda m, _: m.archive_training_runs(b"{}")),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("call", [c for _, c in CALLS], ids=[name for name, _ in CALLS])
def test_a_wrong_argument_leaves_the_catalog_alone(
    tmp_path: Path, call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    """ArgumentError, and the catalog is the same file, never rebuilt: a float for a LIMIT
    or a Path to bind failed as a statement, taken for damage (the whole catalog rebuilt
    from the run folders, at every such call). The reader's own methods, which the
    manager's checks do not guard, meet the same at the catalog."""
    manager = TrainingArchiveManager(tmp_path / "archive")
    stamp = manager.archive_training_run(make_summary("r")).timestamp
    before = os.stat(manager.layout.catalog).st_ino
    with pytest.raises(ArgumentError):
        call(manager, stamp)
    assert os.stat(manager.layout.catalog).st_ino == before
    assert "index_damaged" not in caplog.text
    assert [r["run_id"] for r in manager.list_runs()] == ["r"]
