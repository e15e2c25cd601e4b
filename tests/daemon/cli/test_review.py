"""Tests for the decision commands: review, decide, deployable, audit (and TIMESTAMP prefixes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon import documents
from daemon.archives import open_archive
from daemon.cli import main
from daemon.config import default_config_text, load_config
from tests.conftest import make_model, summary_bytes, with_url


@pytest.fixture(params=["folder", "shared"])
def workdir(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A folder with a config.toml and two archived runs, used as the current folder: the
    archive is a folder, then a shared database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    monkeypatch.setenv("SUDO_USER", "ann")
    text = default_config_text()
    if request.param == "shared":
        text = with_url(text, request.getfixturevalue("pg_url"))
    (tmp_path / "config.toml").write_text(text, "utf-8")
    for name in ("a", "b"):
        (tmp_path / f"{name}_summary.json").write_bytes(summary_bytes(name))
    assert main(["archive", "a_summary.json", "b_summary.json"]) == 0
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (status, stdout, stderr)."""
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def stamps(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The archived runs' timestamps, oldest first."""
    return [r["timestamp"] for r in json.loads(run(capsys, "runs", "--json")[1])]


def test_review_decide_deployable_audit(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A REVIEW model is found, decided by prefix, seen as champion and in the audit trail."""
    first, second = stamps(capsys)
    status, out, _ = run(capsys, "review", "--json")
    queue = json.loads(out)
    assert status == 0
    assert [(q["timestamp"], q["symbol"]) for q in queue] == [(second, "SYM1"), (first, "SYM1")]
    assert set(queue[0]) == {"timestamp", "run_id", "symbol", "classification", "fitness",
                             "profit_factor", "consistency", "max_drawdown", "reasons"}  # fmt: skip
    assert queue[0]["reasons"][2] == "consistency 0.70 < 0.85"
    with open_archive(load_config(workdir / "config.toml")) as archive:
        assert documents.pending_count(archive) == 2
    status, out, _ = run(capsys, "review")
    assert "consistency 0.70 < 0.85" in out
    assert out.strip().endswith("2 models await review")

    prefix = next(second[: i + 1] for i in range(len(second)) if first[i] != second[i])
    status, out, err = run(capsys, "decide", prefix, "SYM1", "approve", "--reason", "ok")
    assert (status, err) == (0, "")
    assert out.startswith(f"decided: SYM1 of run {second}: APPROVED (was REVIEW), by ann: ok")

    deployable = json.loads(run(capsys, "deployable", "--json")[1])
    assert list(deployable) == ["SYM0", "SYM1"]
    assert deployable["SYM1"] == {
        "timestamp": second, "run_id": "b", "verdict_by": "ann", "reason": "ok", "fitness": 0.6,
        "profit_factor": 1.5, "consistency": 0.7, "max_drawdown": 0.1, "use_checkpoint": False,
        "checkpoint_step": None,
    }  # fmt: skip
    assert deployable["SYM0"]["verdict_by"] == "gate"
    before = json.loads(run(capsys, "deployable", "--json", "--at", second)[1])
    assert list(before) == ["SYM0"]
    assert "SYM1" in run(capsys, "deployable")[1]

    status, out, _ = run(capsys, "decide", "latest", "SYM0", "drop", "--reason", "no",
                         "--by", "bob", "--force", "--json")  # fmt: skip
    assert json.loads(out)["override"] is True
    audit = json.loads(run(capsys, "audit", "--json")[1])
    assert [(a["symbol"], a["verdict"], a["previous"], a["override"], a["by"]) for a in audit] == [
        ("SYM1", "APPROVED", "REVIEW", False, "ann"),
        ("SYM0", "DROP", "APPROVED", True, "bob"),
    ]
    assert set(audit[0]) == {"timestamp", "symbol", "verdict", "previous", "override", "by",
                             "reason", "decided_at"}  # fmt: skip
    assert json.loads(run(capsys, "audit", "SYM0", "--json")[1]) == audit[1:]
    assert "override" in run(capsys, "audit")[1]
    assert json.loads(run(capsys, "approved", "--json")[1]) == ["SYM1"]
    history = json.loads(run(capsys, "history", "SYM1", "--json")[1])
    assert [h["verdict"] for h in history] == ["REVIEW", "APPROVED"]
    text = run(capsys, "history", "SYM1")[1]
    assert f"{second}: fitness 0.60 < 0.70; profit_factor 1.50 < 1.80;" in text
    assert f"  {second}: APPROVED by ann: ok" in text.split("* decided by a person")[1]
    assert text.splitlines()[2].split()[2] == "REVIEW*"


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (
            ["decide", "20000101T000000000000Z", "SYM1", "approve", "--reason", "x"],
            1,
            "no archived run",
        ),
        (["decide", "latest", "NOPE", "approve", "--reason", "x"], 1, "did not gate symbol 'NOPE'"),
        (["decide", "latest", "SYM1", "approve", "--reason", "  "], 2, "must not be blank"),
        (["decide", "latest", "SYM1", "keep", "--reason", "x"], 2, "'keep' is not approve or drop"),
        (["decide", "latest", "SYM2", "approve", "--reason", "x"], 2, "use --force"),
        (["decide", "2", "SYM1", "approve", "--reason", "x"], 2, "matches several runs: 2"),
        (["approved", "2"], 2, "matches several runs"),
        (["approved", "1999"], 1, "no archived run"),
        (["deployable", "--at", "someday"], 2, "is not a run timestamp"),
    ],
)
def test_bad_input_is_one_line_and_decides_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    """Each error is one stderr line with its exit status; decisions/ stays empty."""
    got, out, err = run(capsys, *argv)
    assert (got, out) == (status, "")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (workdir / "training_archives" / "decisions").exists()


def test_by_defaults_to_sudo_user_else_login_name(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--by is $SUDO_USER when set, else getpass.getuser()."""
    run(capsys, "decide", "latest", "SYM1", "drop", "--reason", "a")
    monkeypatch.delenv("SUDO_USER")
    monkeypatch.setattr("getpass.getuser", lambda: "login-name")
    run(capsys, "decide", "latest", "SYM1", "drop", "--reason", "b")
    audit = json.loads(run(capsys, "audit", "--json")[1])
    assert [a["by"] for a in audit] == ["ann", "login-name"]


def test_assess_explains_each_model(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """assess shows the reasons in words and, in JSON, each metric against both bounds."""
    status, out, _ = run(capsys, "assess", "a_summary.json", "--json")
    models = json.loads(out)
    assert status == 0
    assert models[0]["reasons"] == []
    assert models[1]["reasons"][-1] == "max_drawdown 0.10 > 0.08"
    assert models[1]["metrics"]["max_drawdown"] == {
        "value": 0.1, "approved_threshold": 0.08, "review_threshold": 0.15, "band": "review",
    }  # fmt: skip
    assert "max_drawdown 0.10 > 0.08" in run(capsys, "assess", "a_summary.json")[1]


def test_empty_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no archive, review, deployable and audit print empty documents and exit 0."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWATCH_CONFIG", raising=False)
    assert run(capsys, "review", "--json")[:2] == (0, "[]\n")
    assert run(capsys, "deployable", "--json")[:2] == (0, "{}\n")
    assert run(capsys, "audit", "--json")[:2] == (0, "[]\n")
    for command, empty in (
        ("deployable", "nothing is deployable"),
        ("review", "no models await review"),
        ("audit", "no decisions"),
    ):  # an empty answer names the archive it looked in
        assert run(capsys, command)[1] == f"{empty} in {tmp_path / 'training_archives'}\n"
    assert not (tmp_path / "training_archives").exists()


def test_review_last_lists_the_newest_models_only(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`review --last 1 --json` gives the newest model awaiting review, the first of the queue."""
    whole = json.loads(run(capsys, "review", "--json")[1])
    status, out, _ = run(capsys, "review", "--last", "1", "--json")
    assert status == 0
    assert len(whole) == 2
    assert json.loads(out) == whole[:1]


def test_review_table_shows_flags_and_json_keeps_the_spec_keys(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The review table names a waiting model's flags; --json keeps SPEC 8's keys only."""
    summary = {
        "run_id": "flagged",
        "models": {"TSLA": make_model(0.6, 1.5, 0.7, 0.1, [0.5, 0.9, 0.6])},
        "validation_interval": 10,
    }
    (workdir / "flagged_summary.json").write_text(json.dumps(summary), "utf-8")
    assert main(["archive", "flagged_summary.json"]) == 0
    status, out, _ = run(capsys, "review")
    assert status == 0
    assert "flags FITNESS_DECLINE, UNSTABLE_TRAINING" in out
    queue = json.loads(run(capsys, "review", "--json")[1])
    assert all("flags" not in item for item in queue)


HOSTILE_SYMBOL = "EVIL\x1b]0;pwned\x07\x1b[2J\u202efdp.exe"
WAITING_SYMBOL = "WAIT\x1b[31m\x9b1m\u2066\u2028"
HOSTILE_REASON = "fine\n2026-01-01T00:00:00Z  AAPL  REVIEW -> APPROVED  by boss\x9b31m"


def _strings(document: object) -> set[str]:
    """Every string (keys too) in a JSON document."""
    if isinstance(document, str):
        return {document}
    if isinstance(document, dict):
        return {s for k, v in document.items() for s in {k} | _strings(v)}
    if isinstance(document, list):
        return {s for item in document for s in _strings(item)}
    return set()


@pytest.mark.parametrize(
    ("argv", "exact"),
    [
        (["review"], WAITING_SYMBOL),
        (["runs"], "run\x1b[31m"),
        (["deployable"], HOSTILE_REASON),
        (["audit"], HOSTILE_REASON),
        (["history", HOSTILE_SYMBOL], HOSTILE_SYMBOL),
        (["rejected"], "bad\x1b[2J_summary.json"),
    ],
)
def test_text_from_files_never_reaches_the_terminal_raw(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], exact: str
) -> None:
    """Control characters from files are shown escaped in tables and lines; --json is exact."""
    hostile = make_model(0.75, 1.9, 0.88, 0.09)  # REVIEW: a person approves it
    summary = {
        "run_id": "run\x1b[31m",
        "models": {HOSTILE_SYMBOL: hostile, WAITING_SYMBOL: hostile},
    }
    (workdir / "evil_summary.json").write_text(json.dumps(summary), "utf-8")
    (workdir / "bad\x1b[2J_summary.json").write_text("{}", "utf-8")
    main(["archive", "evil_summary.json", "bad\x1b[2J_summary.json"])
    assert main(["decide", "latest", HOSTILE_SYMBOL, "approve", "--reason", HOSTILE_REASON]) == 0
    status, out, err = run(capsys, *argv)
    assert status == 0
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\u2066", "\u2028"):
        assert raw not in out + err
    assert not any(line.startswith("2026-01-01T00:00:00Z") for line in out.splitlines())
    assert "\\x1b" in out or "\\n" in out
    _, json_out, _ = run(capsys, *argv, "--json")
    assert exact in _strings(json.loads(json_out))


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "zzzz", "2026-13-01", " "]
)
def test_a_time_out_of_range_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], at: str
) -> None:
    """deployable --at with a time outside years 1-9999 in UTC, or not a time: one line, exit 2."""
    status, out, err = run(capsys, "deployable", "--at", at)
    assert (status, out) == (2, "")
    assert err.startswith("gatewatch: ")
    assert len(err.splitlines()) == 1


def test_a_symbol_of_another_case_is_named_and_one_model_awaits(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """decide on `sym1` names SYM1 (it said only "did not gate"); one model left in the
    queue awaits review, in the singular."""
    status, _, err = run(capsys, "decide", "latest", "sym1", "approve", "--reason", "ok")
    assert status == 1
    assert err.strip().endswith(
        "did not gate symbol 'sym1' (symbols are case-sensitive: did you mean SYM1?)"
    )
    assert run(capsys, "decide", "latest", "SYM1", "approve", "--reason", "ok")[0] == 0
    assert run(capsys, "review")[1].strip().endswith("\n1 model awaits review")
    # A run without SYM1: no suggestion, though an older run has it.
    (workdir / "c_summary.json").write_text(json.dumps({"models": {"OTHER": make_model()}}))
    assert run(capsys, "archive", "c_summary.json")[0] == 0
    status, _, err = run(capsys, "decide", "latest", "sym1", "approve", "--reason", "ok")
    assert (status, "did you mean" in err) == (1, False)
