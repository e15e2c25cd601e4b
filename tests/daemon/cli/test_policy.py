"""`gatewatch regate OTHER.toml [--since TIME] [--json]` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main
from daemon.cli.policy import change_rows
from gating import TrainingArchiveManager
from gating.regate import RegateChange


def summary(run_id: str, fitness: float) -> dict[str, Any]:
    """A one-model summary whose AAPL passes every bound but perhaps fitness."""
    model = {"fitness": fitness, "pf": 1.9, "consistency": 0.88, "max_dd": 0.06}
    return {"run_id": run_id, "models": {"AAPL": model}}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A config, an OTHER.toml with a champion table, and an archive of three runs."""
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    other = tmp_path / "other.toml"
    other.write_text("[gating]\napproved_min_fitness = 0.8\n[gating.champion]\nfitness = 0.02\n")
    with TrainingArchiveManager(tmp_path / "archive") as archive:
        runs = archive.archive_training_runs(
            [summary("a", 0.90), summary("b", 0.85), summary("c", 0.75)]
        )
    return config, other, [run.timestamp for run in runs]


def regate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command; its status, stdout and stderr."""
    status = main(["regate", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_human_output_fits_100_columns(
    setup: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A summary line, counts now and under OTHER, and the changes in an aligned table."""
    config, other, stamps = setup
    status, out, err = regate(capsys, str(other), "--config", str(config))
    assert (status, err) == (0, "")  # no progress bar when stderr is not a terminal
    lines = out.splitlines()
    assert lines[0] == "re-gated 3 runs (3 models) under other.toml"
    assert "APPROVED           3         1        -2" in lines
    assert "2 models would change class" in lines
    assert all(len(line) <= 100 for line in lines)
    table = lines[lines.index("2 models would change class") + 3 :]
    assert table[0].split() == ["TIMESTAMP", "SYMBOL", "FROM", "TO", "VERDICT", "WHY"]
    assert table[1].startswith(f"{stamps[1]}  AAPL    APPROVED  REVIEW  -        fitness 0.85")
    assert table[2].startswith(f"{stamps[2]}  AAPL    APPROVED  REVIEW  -        fitness 0.75")


def test_json_document(
    setup: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one document: counts now/other per class and every change."""
    config, other, stamps = setup
    status, out, _ = regate(capsys, str(other), "--json", "--config", str(config))
    document = json.loads(out)
    assert status == 0
    assert document["counts"]["APPROVED"] == {"now": 3, "other": 1}
    assert [(c["timestamp"], c["from"], c["to"]) for c in document["changes"]] == [
        (stamps[1], "APPROVED", "REVIEW"),
        (stamps[2], "APPROVED", "REVIEW"),
    ]
    assert document["changes"][1]["why"] == "fitness 0.75 < 0.80"


def test_since(setup: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    """--since takes a unique prefix (and says where it started)."""
    config, other, stamps = setup
    status, out, _ = regate(capsys, str(other), "--since", stamps[2], "--config", str(config))
    assert status == 0
    assert out.splitlines()[0] == f"re-gated 1 run (1 model) since {stamps[2]} under other.toml"


@pytest.mark.parametrize(
    ("other_text", "since", "status", "message"),
    [
        ("[gating.champion]\nfitnes = 0.1\n", None, 2, "gating.champion.fitnes: unknown metric"),
        ("[gating.champion]\nfitness = -1\n", None, 2, "gating.champion.fitness: -1"),
        ("", "yesterday", 2, "'yesterday' is not a run timestamp"),
        ("", "20991231T", 1, "no archived run has a timestamp starting with '20991231T'"),
    ],
)
def test_errors_are_one_line(
    setup: tuple[Path, Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    other_text: str,
    since: str | None,
    status: int,
    message: str,
) -> None:
    """A bad OTHER.toml exits 2 naming the key; a bad --since exits 2 or 1; one line each."""
    config, other, _ = setup
    other.write_text(other_text, "utf-8")
    args = [str(other), "--config", str(config), *(["--since", since] if since else [])]
    found, out, err = regate(capsys, *args)
    assert (found, out) == (status, "")
    assert err.count("\n") == 1
    assert message in err


def test_a_missing_other_file(
    setup: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """OTHER.toml that does not exist: exit 2, one line naming it."""
    config, _, _ = setup
    status, _, err = regate(capsys, str(tmp_path / "nope.toml"), "--config", str(config))
    assert status == 2
    assert err == f"gatewatch: {tmp_path / 'nope.toml'}: config file not found\n"


def test_long_reasons_are_cut_to_the_width() -> None:
    """WHY is cut with an ellipsis so that each line fits; the other columns stay whole."""
    change = RegateChange("20261126T163000000000Z", "r", "AAPL", "APPROVED", "REVIEW", "x" * 200)
    header, row = change_rows([change], width=100)
    assert len(row) == 100
    assert row.endswith("x…")
    assert row.startswith("20261126T163000000000Z  AAPL    APPROVED  REVIEW  -        x")
    assert header.startswith("TIMESTAMP")


def test_the_command_writes_nothing(
    setup: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Every file of the archive is as it was (index.json included), the catalog aside."""

    def files() -> dict[str, bytes]:
        return {
            str(path): path.read_bytes()
            for path in sorted((tmp_path / "archive").rglob("*"))
            if path.is_file() and "catalog" not in path.name and path.name != ".lock"
        }

    config, other, _ = setup
    before = files()
    assert regate(capsys, str(other), "--config", str(config))[0] == 0
    assert files() == before


def test_a_symbol_from_a_file_is_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A symbol holding terminal controls or a direction override is printed escaped."""
    config = tmp_path / "config.toml"
    config.write_text('[archive]\ndir = "archive"\n', "utf-8")
    other = tmp_path / "other.toml"
    other.write_text("[gating]\napproved_min_fitness = 0.8\n")
    hostile = summary("a", 0.75)
    hostile["models"] = {"EV\x1b[2JIL\u202e": hostile["models"]["AAPL"]}
    with TrainingArchiveManager(tmp_path / "archive") as archive:
        archive.archive_training_run(hostile)
    status, out, _ = regate(capsys, str(other), "--config", str(config))
    assert status == 0
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "EV\\x1b[2JIL\\u202e" in out
