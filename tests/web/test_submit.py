"""Tests for POST /api/runs: runs sent over HTTP, answered as `archive --json` answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from daemon.cli import main
from daemon.config import parse_config
from daemon.web.app import create_app
from gating import TrainingArchiveManager
from gating.archive.rejections import list_rejected
from tests.conftest import make_summary
from tests.web.conftest import ORIGIN, TOKEN

SUBMIT = "a-submit-token-for-the-tests"
GONE = "the archive folder is gone or is another one (moved, deleted, or its disk not mounted)"
AUTH = {"Authorization": f"Bearer {SUBMIT}"}
LIMIT = 4096


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[TestClient]:
    """The dashboard over an empty archive, taking runs with the submit token."""
    config = parse_config(
        {"archive": {"dir": str(tmp_path / "archive")}, "watch": {"max_file_bytes": LIMIT}},
        tmp_path,
    )
    app = create_app(config, TOKEN, submit_token=SUBMIT)
    with TestClient(app, base_url=ORIGIN) as client:
        yield client


def runs(client: TestClient) -> list[dict[str, object]]:
    """The archive's runs as the API lists them."""
    listed: list[dict[str, object]] = client.get("/api/runs").json()
    return listed


def test_a_run_is_archived_once_and_answered_as_archive_json(sender: TestClient) -> None:
    """201 archived with its timestamp and source; the same bytes again: 200 duplicate."""
    body = json.dumps(make_summary("colab-1")).encode()
    headers = {**AUTH, "X-Gatewatch-Source": "colab:/content/run_summary.json"}
    first = sender.post("/api/runs", content=body, headers=headers)
    assert first.status_code == 201
    answer = first.json()
    assert answer["outcome"] == "archived"
    assert answer["source"] == "colab:/content/run_summary.json"
    assert answer["reason"] is None
    again = sender.post("/api/runs", content=body, headers=AUTH)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["timestamp"] == answer["timestamp"]
    assert [(r["run_id"], r["source"]) for r in runs(sender)] == [
        ("colab-1", "colab:/content/run_summary.json")
    ]


def test_an_invalid_summary_is_422_with_its_reason_and_kept_as_rejected(
    sender: TestClient, tmp_path: Path
) -> None:
    """The file's validation, its one-line reason, and a copy in _rejected/ (one, however
    often the same bytes come); no run."""
    answer = sender.post("/api/runs", content=b'{"models": "nope"}', headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["outcome"] == "rejected"
    assert "models" in answer.json()["reason"]
    # The same bytes again: told the same, kept once (each POST was another copy).
    for _ in range(3):
        again = sender.post("/api/runs", content=b'{"models": "nope"}', headers=AUTH)
        assert (again.status_code, again.json()["reason"]) == (422, answer.json()["reason"])
    kept = list_rejected(tmp_path / "archive" / "_rejected")
    assert [r.reason for r in kept] == [answer.json()["reason"]]
    assert runs(sender) == []


def test_bytes_rejected_before_this_process_are_not_kept_again(tmp_path: Path) -> None:
    """Bytes the service (or a dashboard before a restart) rejected are told the same and
    not kept again (the dashboard began with none known: a copy each process)."""
    config = parse_config({"archive": {"dir": str(tmp_path / "archive")}}, tmp_path)
    bad = tmp_path / "bad_summary.json"
    bad.write_bytes(b'{"models": "nope"}')
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[archive]\ndir = "{tmp_path / "archive"}"\n', "utf-8")
    assert main(["--config", str(config_file), "archive", str(bad)]) == 1
    for _ in range(2):  # two processes of the dashboard, one after the other
        app = create_app(config, TOKEN, submit_token=SUBMIT)
        with TestClient(app, base_url=ORIGIN) as client:
            answer = client.post("/api/runs", content=bad.read_bytes(), headers=AUTH)
            assert (answer.status_code, answer.json()["outcome"]) == (422, "rejected")
    assert len(list_rejected(tmp_path / "archive" / "_rejected")) == 1


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "a submit token is needed"),
        ({"Authorization": "Bearer wrong-token-of-some-length"}, "the submit token is wrong"),
        ({"Authorization": f"Bearer {TOKEN}"}, "the submit token is wrong"),  # reviewers'
        ({"Authorization": f"Basic {SUBMIT}"}, "the submit token is wrong"),
        ({"Authorization": "Bearer "}, "a submit token is needed"),
    ],
)
def test_only_the_submit_token_may_send(
    sender: TestClient, headers: dict[str, str], says: str
) -> None:
    """Without the submit token: 401 with a Bearer challenge, saying whether a token was
    sent (a wrong one was called missing), and nothing archived."""
    answer = sender.post("/api/runs", content=json.dumps(make_summary("x")), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"].startswith(says)
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert runs(sender) == []


def test_submitting_is_off_without_a_submit_token(tmp_path: Path) -> None:
    """A dashboard with no submit token answers 403 and names the setting."""
    config = parse_config({"archive": {"dir": str(tmp_path / "a")}}, tmp_path)
    with TestClient(create_app(config, TOKEN), base_url=ORIGIN) as client:
        answer = client.post("/api/runs", content=b"{}", headers=AUTH)
    assert answer.status_code == 403
    assert "submit_token_env" in answer.json()["error"]


def test_a_body_over_max_file_bytes_is_413_and_never_archived(sender: TestClient) -> None:
    """A summary larger than [watch] max_file_bytes: 413 naming the limit, and the
    file_rejected line a watched file that large gets (the server said nothing)."""
    summary = make_summary("big")
    summary["padding"] = "x" * LIMIT
    headers = {**AUTH, "X-Gatewatch-Source": "gpu2:/out/big_summary.json"}
    with capture_logs() as logged:
        answer = sender.post("/api/runs", content=json.dumps(summary), headers=headers)
    assert answer.status_code == 413
    assert str(LIMIT) in answer.json()["error"]
    assert runs(sender) == []
    said = [(e["event"], e["log_level"], e["source"]) for e in logged if "source" in e]
    assert said == [("file_rejected", "warning", "gpu2:/out/big_summary.json")]


def test_the_library_sees_a_pushed_run(sender: TestClient, tmp_path: Path) -> None:
    """What came over HTTP is an ordinary run of the folder archive."""
    sender.post("/api/runs", content=json.dumps(make_summary("lib")), headers=AUTH)
    with TrainingArchiveManager(tmp_path / "archive") as archive:
        assert [r["run_id"] for r in archive.list_runs()] == ["lib"]


@pytest.mark.parametrize(
    ("header", "source"),
    [
        ("gpu2:/runs/模型_summary.json".encode().decode("latin-1"), "gpu2:/runs/模型_summary.json"),
        ("bad\xff\tname\x1b[2J_summary.json", "badÿname[2J_summary.json"),  # not UTF-8
    ],
    ids=["utf8-bytes", "controls-not-utf8"],
)
def test_the_source_header_is_read_as_utf8_and_kept_printable(
    sender: TestClient, header: str, source: str
) -> None:
    """X-Gatewatch-Source's bytes are read as UTF-8 (as push sends a name in any script),
    else as they came; controls are dropped."""
    body = json.dumps(make_summary("named")).encode()
    headers = {k.encode(): v.encode() for k, v in AUTH.items()}
    headers[b"X-Gatewatch-Source"] = header.encode("latin-1")  # the bytes sent
    answer = sender.post("/api/runs", content=body, headers=headers)
    assert answer.status_code == 201
    assert answer.json()["source"] == source


def test_a_long_source_keeps_its_host_and_its_file(sender: TestClient) -> None:
    """A source over 4,096 characters is cut in the middle: two runs sent from deep
    folders keep their host and their own file names (cut at 300 characters from the
    start, runs 41 and 42 had one source)."""
    sources = []
    for run in ("41", "42"):
        body = json.dumps(make_summary(f"deep-{run}")).encode()
        named = {**AUTH, "X-Gatewatch-Source": "gpu2:/" + "d/" * 2500 + f"run_{run}.json"}
        sources.append(sender.post("/api/runs", content=body, headers=named).json()["source"])
    assert [len(source) for source in sources] == [4096, 4096]
    assert all(source.startswith("gpu2:/d/d/") for source in sources)
    assert [source.rsplit("/", 1)[1] for source in sources] == ["run_41.json", "run_42.json"]
    assert all("…" in source for source in sources)


def test_an_archive_folder_gone_or_a_file_in_its_place_is_a_503_everywhere(
    sender: TestClient, tmp_path: Path
) -> None:
    """The archive folder moved away and a file put in its place (a mount gone wrong)
    under the open catalog: a run sent is a 503 with one line and the file is left as it
    was; the pages and the API are a 503 naming it too (all were a 500 with a traceback,
    then answered as for an archive with no runs: "nothing deployable" to a deploy tool)."""
    first = sender.post("/api/runs", content=json.dumps(make_summary("a")).encode(), headers=AUTH)
    assert first.status_code == 201
    assert len(runs(sender)) == 1
    (tmp_path / "archive").rename(tmp_path / "archive.moved")
    (tmp_path / "archive").write_bytes(b"x")
    sent = sender.post("/api/runs", content=json.dumps(make_summary("b")).encode(), headers=AUTH)
    assert sent.status_code == 503
    assert sent.headers["retry-after"] == "5"  # as every 503 of ours says (this one did not)
    assert sent.json()["reason"] == f"{tmp_path / 'archive'}: {GONE}"
    for path in ("/", "/review", "/metrics", "/api/runs", "/api/deployable"):
        answer = sender.get(path)
        assert answer.status_code == 503, path
        assert GONE in answer.text
    assert (tmp_path / "archive").read_bytes() == b"x"
    (tmp_path / "archive").unlink()  # the folder moved away, nothing in its place: the same
    assert sender.get("/api/deployable").status_code == 503
    (tmp_path / "archive").mkdir()  # an empty folder, as an unmounted disk leaves its mount
    assert sender.get("/api/deployable").status_code == 503  # point (it answered {})
    assert list((tmp_path / "archive").iterdir()) == []  # no catalog made there either
    (tmp_path / "archive").rmdir()
    (tmp_path / "archive.moved").rename(tmp_path / "archive")  # back: answered again
    assert [r["run_id"] for r in runs(sender)] == ["a"]
