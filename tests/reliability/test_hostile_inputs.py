"""Hostile input: every corpus file is rejected with a reason or skipped; the daemon carries on."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import summary_bytes
from tests.process import Daemon, wait_until

pytestmark = pytest.mark.timeout(90)

DATA = Path(__file__).resolve().parents[1] / "data"

# file -> the reason it is rejected for (a substring), or None when it is a valid summary
EXPECTED: dict[str, str | None] = {
    "empty_summary.json": "file: empty",
    "whitespace_summary.json": "file: empty",
    "truncated_summary.json": "file: its JSON stops short, cut off or still being written",
    "not_utf8_summary.json": "file: not UTF-8 (byte 0xe9",
    "utf16_summary.json": "file: encoded as UTF-16",
    "bom_summary.json": None,
    "deep_nesting_summary.json": "file: nesting deeper than 64 levels",
    "wrong_types_summary.json": "models: expected an object or an array, got a string",
    "string_metric_summary.json": "models.AAPL.fitness: '0.75' is not a number",
    "missing_key_summary.json": "models.AAPL.max_drawdown: missing",
    "no_models_summary.json": "models: missing",
    "duplicate_symbols_summary.json": "models: duplicate key 'AAPL'",
    "duplicate_list_symbols_summary.json": "models[1].symbol: duplicate symbol 'AAPL'",
    "empty_symbol_summary.json": "symbol must be a non-empty string",
    "negative_pf_summary.json": "models.AAPL.profit_factor: -1.5 is negative",
    "percent_consistency_summary.json": "models.AAPL.consistency: 88 is not a fraction in [0, 1]",
    "percent_drawdown_summary.json": "models.AAPL.max_drawdown: 6 is not a fraction in [0, 1]",
    "bad_interval_summary.json": "validation_interval: -10 is not a positive integer",
    "nan_interval_summary.json": "validation_interval: expected a positive integer",
    "inf_fitness_summary.json": "models.AAPL.fitness: inf is not finite",
    "inf_consistency_summary.json": "models.AAPL.consistency: inf is not a fraction",
    "inf_drawdown_summary.json": "models.AAPL.max_drawdown: -inf is not a fraction",
    "neg_inf_pf_summary.json": "models.AAPL.profit_factor: -inf is negative",
    "nan_everywhere_summary.json": None,
    "inf_pf_summary.json": None,
    "top_level_array_summary.json": "top level: expected an object, got an array",
    "bool_metric_summary.json": "models.AAPL.fitness: True is not a number",
    "history_not_list_summary.json": "models.AAPL.fitness_history: expected an array",
}


def test_corpus_is_complete() -> None:
    """Every file in tests/data has an expectation and vice versa."""
    assert sorted(p.name for p in DATA.iterdir()) == sorted(EXPECTED)


def test_hostile_corpus(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    """Each hostile file is rejected with its reason or skipped; good files still land."""
    daemon = daemon_factory()
    for name in EXPECTED:
        (daemon.inbox / name).write_bytes((DATA / name).read_bytes())
    with (daemon.inbox / "huge_summary.json").open("wb") as huge:
        huge.truncate(16 * 1024 * 1024 + 1)  # one byte over max_file_bytes, sparse
    secret = tmp_path / "secret_summary.json"
    secret.write_bytes(summary_bytes("secret-outside-the-tree"))
    (daemon.inbox / "link_summary.json").symlink_to(secret)
    os.mkfifo(daemon.inbox / "fifo_summary.json")
    (daemon.inbox / "folder_summary.json").mkdir()
    daemon.start()

    rejected_names = [name for name, reason in EXPECTED.items() if reason]
    events = daemon.wait_for_event("file_rejected", count=len(rejected_names) + 1, timeout=30)
    reasons = {Path(e["source"]).name: e["reason"] for e in events}
    for name in rejected_names:
        assert EXPECTED[name] in reasons[name], name
    assert "larger than max_file_bytes" in reasons["huge_summary.json"]
    archived = daemon.wait_for_event("run_archived", count=3)
    assert sorted(e["run_id"] for e in archived) == ["hostile-bom", "hostile-inf-pf", "hostile-nan"]

    # A name that is not UTF-8: archived and written in status.json (that killed it).
    (daemon.inbox / "odd\udcff_summary.json").write_bytes(summary_bytes("odd"))
    daemon.wait_for_event("run_archived", run_id="odd")
    status_file = daemon.archive / "status.json"
    wait_until(lambda: "odd\\udcff" in status_file.read_text("utf-8"), 15, "status.json")
    (daemon.inbox / "after_summary.json").write_bytes(summary_bytes("after"))
    daemon.wait_for_event("run_archived", run_id="after")
    status, _ = daemon.stop()
    assert status == 0
    archived_bytes = b"".join(p.read_bytes() for p in daemon.archive.rglob("*") if p.is_file())
    assert b"secret-outside-the-tree" not in archived_bytes
    reason_files = list((daemon.archive / "_rejected").glob("*.reason.json"))
    assert len(reason_files) == len(rejected_names) + 1
    assert all(json.loads(p.read_text("utf-8"))["reason"] for p in reason_files)
    assert len(daemon.events("file_rejected")) == len(rejected_names) + 1  # none retried


def test_files_where_the_archive_folders_belong(daemon_factory: Callable[..., Daemon]) -> None:
    """A file in _rejected/'s place and one in decisions/'s, with the catalog deleted: the
    service starts (it exited saying 'Not a directory'), rebuilds the catalog, archives a
    good summary, and a bad one's rejection fails naming the file in the way, retried with
    the file left where it is."""
    daemon = daemon_factory()
    daemon.start()
    (daemon.inbox / "first_summary.json").write_bytes(summary_bytes("first"))
    daemon.wait_for_event("run_archived", run_id="first")
    assert daemon.stop()[0] == 0
    (daemon.archive / "_rejected").write_bytes(b"not a folder")
    (daemon.archive / "decisions").write_bytes(b"not a folder")
    (daemon.archive / "catalog.sqlite3").unlink()
    daemon.start()
    (daemon.inbox / "good_summary.json").write_bytes(summary_bytes("good"))
    (daemon.inbox / "bad_summary.json").write_bytes(b"{")
    daemon.wait_for_event("run_archived", run_id="good")
    failed = daemon.wait_for_event("archive_failed")
    assert "bad_summary.json" in failed[0]["source"]
    assert f"{daemon.archive / '_rejected'}" in failed[0]["reason"]
    assert "not a folder" in failed[0]["reason"]
    assert daemon.stop()[0] == 0
    assert (daemon.archive / "_rejected").read_bytes() == b"not a folder"
    assert (daemon.inbox / "bad_summary.json").read_bytes() == b"{"
    assert len(daemon.run_folders()) == 2
