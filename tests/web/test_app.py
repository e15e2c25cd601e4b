"""The dashboard through Starlette's TestClient: pages, escaping, writing rules, health."""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from daemon.config import Config, parse_config
from daemon.status import status_document, write_status
from daemon.web.app import create_app
from daemon.web.security import csrf_token
from gating import TrainingArchiveManager
from gating.archive.lock import FileLock
from gating.verdicts import MAX_REASON_CHARS
from tests.conftest import make_model, make_summary
from tests.web.conftest import HOSTILE, HOSTILE_SOURCE, ORIGIN, TOKEN

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def pages(archive: TrainingArchiveManager) -> list[str]:
    """Every page of the fixture archive."""
    runs = [run["timestamp"] for run in archive.list_runs()]
    symbols = ["BTC/USD", "AAPL", HOSTILE]
    return ["/", "/review", *(f"/runs/{t}" for t in runs)] + [
        "/symbols/" + quote(s, safe="") for s in symbols
    ]


def test_every_page_answers_and_escapes_hostile_text(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """Each page is 200, HTML, shows the hostile run id and symbol only as text, and is
    never cached."""
    for url in pages(archive):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html")
        assert HOSTILE not in response.text, url
        assert "<img src=x" not in response.text, url
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"  # a CSRF token kept by a cache
    latest = archive.list_runs()[-1]["timestamp"]
    assert ESCAPED in client.get(f"/runs/{latest}").text
    assert ESCAPED in client.get("/").text


def test_invisible_and_direction_changing_text_is_shown_escaped(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """A symbol, run id and source holding U+202E or a zero-width space are shown with
    them escaped, as the CLI shows them (the page showed the name turned around)."""
    symbol, model = "EV\u202eIL\u200b", {"fitness": 0.3, "pf": 1, "consistency": 0.5, "max_dd": 0.2}
    run = archive.archive_training_run(
        {"run_id": "rlo\u202etxt", "models": {symbol: model}}, source="/in/rlo\u202etxt.json"
    )
    for url in (f"/runs/{run.timestamp}", "/symbols/" + quote(symbol, safe=""), "/"):
        text = client.get(url).text
        assert "\u202e" not in text, url
        assert "\u200b" not in text, url
        assert "\\u202e" in text, url


def test_symbol_with_a_slash(client: TestClient) -> None:
    """BTC/USD works with the slash as is and percent-encoded; the chart has both runs."""
    for url in ("/symbols/BTC/USD", "/symbols/BTC%2FUSD"):
        response = client.get(url)
        assert response.status_code == 200
        assert '<h1 id="symbol">BTC/USD</h1>' in response.text
        assert "<svg" in response.text
        assert "Showing the latest 2 of 2 runs." in response.text
    found = client.get("/symbols/?symbol=BTC/USD", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == "/symbols/BTC%2FUSD"


def test_symbols_named_dot_and_dot_dot_have_their_pages(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """A run's links to symbols `.` and `..` open their pages (a browser resolved
    /symbols/.. to the home page), and so does the search box."""
    run = archive.archive_training_run(
        {"run_id": "dots", "models": {".": make_model(), "..": make_model(0.6)}}
    )
    page = client.get(f"/runs/{run.timestamp}").text
    for symbol, link in ((".", "/symbols/?symbol=."), ("..", "/symbols/?symbol=..")):
        assert f'href="{link}"' in page
        answer = client.get(link, follow_redirects=False)
        assert answer.status_code == 200
        assert f'<h1 id="symbol">{symbol}</h1>' in answer.text


def test_run_page_shows_bounds_flags_and_advice(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """A run page lists models by class with bounds, flags in words and checkpoint advice."""
    first = archive.list_runs()[0]["timestamp"]
    text = client.get(f"/runs/{first}").text
    assert "APPROVED — deploy to production" in text
    assert "REVIEW — manual review required" in text
    assert "≥ 0.7" in text
    assert "&lt; 0.5" in text
    assert "restore the checkpoint at step 3,000" in text
    assert "FITNESS_DECLINE" in text


def test_unknown_run_and_symbol_are_404(client: TestClient) -> None:
    """An unknown run or symbol is a 404 page with one line; the API says it in JSON."""
    assert client.get("/runs/20000101T000000000000Z").status_code == 404
    missing = client.get("/symbols/NOPE")
    assert missing.status_code == 404
    assert "no archived run gated NOPE" in missing.text
    api = client.get("/api/runs/nope")
    assert api.status_code == 404
    assert "no archived run" in api.json()["error"]
    assert client.get("/api/runs?last=zero").status_code == 400
    assert client.get("/symbols/AAPL?last=-1").status_code == 400
    # A NUL no database text holds: no run gated it (a 503 in shared mode)
    nul = client.get("/api/history/A%00B")
    assert (nul.status_code, nul.json()) == (200, [])
    assert client.get("/symbols/A%00B").status_code == 404


@pytest.mark.folder_only
@pytest.mark.parametrize(
    "record",
    [
        *("[]", "null", '"x"', "NaN", "{}", '{"models": 5}', '{"models": [{}]}', "classification"),
        *('history:["x", 0.5]', "history:[[1], 0.5]", 'history:[true, "0.5"]', "history:7"),
    ],
)
def test_a_run_record_of_another_shape_is_a_503_line_not_a_500_or_a_404(
    client: TestClient, archive: TrainingArchiveManager, record: str
) -> None:
    """A run whose record was edited into JSON of another shape is a 503 with one line on
    its page and in the API (a 500 with a traceback's text, or a 404 saying "models")."""
    timestamp = archive.list_runs()[-1]["timestamp"]
    path = archive.archive_dir / timestamp / "model_assessments.json"
    if record == "classification":
        record = path.read_text("utf-8").replace('"APPROVED"', '"MAYBE"')
    elif record.startswith("history:"):  # a run page drew these: a 500
        document = json.loads(path.read_text("utf-8"))
        document["models"][0]["fitness_history"] = json.loads(record.removeprefix("history:"))
        record = json.dumps(document)
    path.write_text(record, "utf-8")
    for url in (f"/runs/{timestamp}", f"/api/runs/{timestamp}"):
        response = client.get(url)
        assert response.status_code == 503, (url, response.text)
        assert "unreadable run record" in response.text
        assert "Traceback" not in response.text


@pytest.mark.folder_only
def test_a_history_point_past_a_float_is_a_gap(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """An integer of 401 digits in a record's history (edited by hand) is drawn as a gap,
    as an infinite point is."""
    timestamp = archive.list_runs()[-1]["timestamp"]
    path = archive.archive_dir / timestamp / "model_assessments.json"
    document = json.loads(path.read_text("utf-8"))
    document["models"][0]["fitness_history"] = [10**400, 0.5, 0.7]
    path.write_text(json.dumps(document), "utf-8")
    page = client.get(f"/runs/{timestamp}")
    assert page.status_code == 200
    assert "fitness history, 3 points" in page.text


def test_read_only_without_a_token(client: TestClient) -> None:
    """No token: no buttons, no sign-in, and every POST is refused."""
    text = client.get("/review").text
    assert "Approve" not in text
    assert "Sign in" not in text
    assert "read-only" in text
    form = {"timestamp": "x", "symbol": "AAPL", "verdict": "approve", "reason": "r", "by": "me"}
    headers = {"origin": ORIGIN}
    assert client.post("/review/decide", data=form, headers=headers).status_code == 403
    assert client.post("/login", data={"token": ""}, headers=headers).status_code == 403
    assert client.get("/login").status_code == 404


def test_sign_in_needs_the_token_and_the_same_origin(writer: TestClient) -> None:
    """The token signs in; a wrong token, no Origin or a foreign Origin does not."""
    assert writer.get("/login").status_code == 200
    wrong = writer.post("/login", data={"token": "guess"}, headers={"origin": ORIGIN})
    assert wrong.status_code == 403
    foreign = writer.post("/login", data={"token": TOKEN}, headers={"origin": "http://evil.test"})
    assert foreign.status_code == 403
    assert writer.post("/login", data={"token": TOKEN}).status_code == 403  # no Origin
    signed = writer.post(
        "/login", data={"token": TOKEN}, headers={"origin": ORIGIN}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()
    assert "Sign out" in writer.get("/review").text


def test_forged_decisions_are_refused(writer: TestClient, archive: TrainingArchiveManager) -> None:
    """Without a session, without the CSRF token or from another origin: 403."""
    timestamp = archive.list_runs()[0]["timestamp"]
    form = {"timestamp": timestamp, "symbol": "AAPL", "verdict": "approve", "reason": "ok"}
    headers = {"origin": ORIGIN}
    if not writer.app.state.web.writable:  # type: ignore[attr-defined]
        assert writer.post("/review/decide", data=form, headers=headers).status_code == 403
        return
    assert writer.post("/review/decide", data=form, headers=headers).status_code == 403
    writer.post("/login", data={"token": TOKEN}, headers=headers)
    session = writer.cookies["gatewatch_session"]
    assert writer.post("/review/decide", data=form, headers=headers).status_code == 403
    good = {**form, "csrf": csrf_token(TOKEN, session), "by": "ann"}
    evil = {"origin": "http://evil.test"}
    assert writer.post("/review/decide", data=good, headers=evil).status_code == 403
    assert writer.post("/review/decide", data=good).status_code == 403  # no Origin/Referer


def test_approve_from_the_browser_form(writer: TestClient, archive: TrainingArchiveManager) -> None:
    """Signed in, with the CSRF token: the decision is recorded and leaves the queue."""
    headers = {"origin": ORIGIN}
    writer.post("/login", data={"token": TOKEN}, headers=headers)
    csrf = csrf_token(TOKEN, writer.cookies["gatewatch_session"])
    timestamp = archive.list_runs()[0]["timestamp"]
    before = writer.get("/api/review").json()
    assert any(item["symbol"] == "AAPL" for item in before)
    form = {"csrf": csrf, "timestamp": timestamp, "symbol": "AAPL", "verdict": "approve"}
    blank = writer.post(
        "/review/decide", data={**form, "by": "ann", "reason": " "}, headers=headers
    )
    assert blank.status_code == 400

    def decide(**fields: str) -> str:
        """Post the form with these fields changed; the page it redirects to."""
        answer = writer.post(
            "/review/decide", data={**form, "by": "ann", **fields}, headers=headers,
            follow_redirects=False,
        )  # fmt: skip
        assert answer.status_code == 303
        return writer.get(answer.headers["location"]).text

    done = decide(reason="checked by hand")
    after = writer.get("/api/review").json()
    assert not any(i["symbol"] == "AAPL" and i["timestamp"] == timestamp for i in after)
    assert writer.get("/api/deployable").json()["AAPL"]["verdict_by"] == "ann"
    # The redirect's notice is signed: shown; the same words in a link made elsewhere are
    # not (it said "Recorded: ..." for any text).
    assert f"Recorded: APPROVED AAPL ({timestamp})" in done
    forged = writer.get("/review", params={"decided": "APPROVED TSLA", "mac": "0" * 64})
    assert "Recorded" not in forged.text
    assert "Recorded" not in writer.get("/review", params={"decided": "APPROVED TSLA"}).text
    # A run named by a prefix is told by its timestamp (the notice echoed what was typed).
    again = decide(timestamp=timestamp[:-1], verdict="drop", reason="second look")
    assert f"Recorded: DROP AAPL ({timestamp})" in again


def signed_in_form(
    browser: TestClient, archive: TrainingArchiveManager, **fields: str
) -> dict[str, str]:
    """Sign ``browser`` in with the token; the decide form approving AAPL of the newest run
    (``fields`` change it)."""
    browser.post("/login", data={"token": TOKEN}, headers={"origin": ORIGIN})
    return {
        "csrf": csrf_token(TOKEN, browser.cookies["gatewatch_session"]),
        "timestamp": archive.list_runs()[0]["timestamp"],
        "symbol": "AAPL",
        "verdict": "approve",
        "by": "ann",
        "reason": "checked by hand",
        **fields,
    }


def test_the_longest_reason_decide_takes_is_taken_from_the_browser(
    writer: TestClient, archive: TrainingArchiveManager
) -> None:
    """A reason of 10,000 CJK characters (90 kB percent-encoded) is recorded, as `decide`
    records it (it was a 413 past 7,300)."""
    headers = {"origin": ORIGIN}
    form = signed_in_form(writer, archive, reason="\u4e2d" * MAX_REASON_CHARS)
    done = writer.post("/review/decide", data=form, headers=headers, follow_redirects=False)
    assert done.status_code == 303
    (audited,) = writer.get("/api/audit").json()
    assert audited["reason"] == form["reason"]


@pytest.mark.folder_only
def test_a_decision_the_catalog_cannot_take_yet_is_recorded_and_says_so(
    config: Config, archive: TrainingArchiveManager
) -> None:
    """The catalog full after the decision's file: a 303 whose notice says it is kept but
    not listed yet (the pages would show the model still awaiting review)."""
    from tests.faulty_disk import FaultyDisk

    full = TrainingArchiveManager(archive.archive_dir, disk=FaultyDisk(fail_at="decision:emitted"))
    headers = {"origin": ORIGIN}
    with TestClient(create_app(config, TOKEN, full), base_url=ORIGIN) as browser:
        form = signed_in_form(browser, archive)
        done = browser.post("/review/decide", data=form, headers=headers, follow_redirects=False)
        assert done.status_code == 303
        page = browser.get(done.headers["location"]).text
    assert "Recorded: APPROVED AAPL" in page
    assert "the decision is kept, but the catalog could not take it yet" in page
    assert len(list((archive.archive_dir / "decisions").glob("*.json"))) == 1


def test_unexpected_host_is_refused(config: Config) -> None:
    """Bound to loopback, a Host header of another name (DNS rebinding) gets a 400."""
    app = create_app(config, allowed_hosts=("127.0.0.1", "localhost", "::1"))
    with TestClient(app, base_url="http://evil.test") as evil:
        assert evil.get("/").status_code == 400
    with TestClient(app, base_url="http://localhost:8470") as good:
        assert good.get("/").status_code == 200


def _status(archive: Path, state: str, age: float = 0.0, pid: int | None = None) -> None:
    now = time.time()
    document = status_document(
        pid=os.getpid() if pid is None else pid,
        host=socket.gethostname(),
        started=now - 60,
        state=state,
        queue_depth=3,
        counters={"archived": 2, "duplicates": 1, "rejected": 4},
        last_archive=None,
        last_error=None,
        now=now - age,
    )
    write_status(archive, document)


def test_health_follows_status_json(client: TestClient, archive: TrainingArchiveManager) -> None:
    """/health is 503 without status.json, 200 while fresh, 503 when stale or stopped."""
    assert client.get("/health").status_code == 503
    _status(archive.archive_dir, "ready")
    healthy = client.get("/health")
    assert healthy.status_code == 200
    assert healthy.json()["status"]["queue_depth"] == 3
    _status(archive.archive_dir, "ready", age=600)
    assert client.get("/health").json()["health"] == "stale"
    _status(archive.archive_dir, "stopped")
    assert client.get("/health").status_code == 503


@pytest.mark.parametrize(
    "written",
    [
        b'{"updated": "2026-12-06T08:31:00Z", "state": "ready", "pid": 1}',
        b'{"pid": "x", "state": 5, "counters": [1]}',
    ],
)
def test_a_status_json_of_another_shape_is_no_status_on_every_page(
    client: TestClient, archive: TrainingArchiveManager, written: bytes
) -> None:
    """A status.json the service did not write (fields missing, of other types): the home
    page, /metrics and /health answer as without one (the home page was a 500)."""
    (archive.archive_dir / "status.json").write_bytes(written)
    assert client.get("/").status_code == 200
    assert client.get("/metrics").status_code == 200
    health = client.get("/health")
    assert (health.status_code, health.json()["health"]) == (503, "not running")


def test_metrics_parse_as_prometheus_text(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """/metrics parses with prometheus_client's parser and counts what the archive holds."""
    _status(archive.archive_dir, "ready")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("gatewatch_archive_runs", ())] == 2
    assert samples[("gatewatch_archive_models", (("classification", "APPROVED"),))] == 1
    assert samples[("gatewatch_archive_models", (("classification", "DROP"),))] == 2
    assert samples[("gatewatch_archive_models", (("classification", "REVIEW"),))] == 2
    assert samples[("gatewatch_files_rejected", ())] == 0
    assert samples[("gatewatch_service_up", ())] == 1
    assert samples[("gatewatch_queue_depth", ())] == 3
    assert samples[("gatewatch_service_files_total", (("outcome", "duplicates"),))] == 1
    assert samples[("gatewatch_service_files_total", (("outcome", "rejected"),))] == 4
    assert 0 <= samples[("gatewatch_seconds_since_last_archive", ())] < 600


def test_metrics_count_the_rejected_files_where_the_archive_keeps_them(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """gatewatch_files_rejected counts the rejections the archive keeps: _rejected/'s
    reason files, or shared mode's rows (it counted a local folder there: always 0)."""

    def rejected() -> float:
        families = text_string_to_metric_families(client.get("/metrics").text)
        (found,) = [s.value for f in families for s in f.samples if s.name.endswith("rejected")]
        return found

    assert rejected() == 0
    archive.writer.reject(b"{", source="in/a_summary.json", reason="not JSON", sha256="ab" * 32)
    archive.writer.reject(None, source="in/b_summary.json", reason="too large")
    assert rejected() == 2


def test_metrics_count_each_targets_pending_and_failed_notifications(tmp_path: Path) -> None:
    """/metrics has, per [notify] target, the events it still has to send and those it
    gave up on (from the outbox, filtered by the events the target takes)."""
    from gating import Outbox

    outbox = Outbox(tmp_path / "archive" / "outbox")
    manager = TrainingArchiveManager(tmp_path / "archive", outbox=outbox)
    manager.archive_training_run(make_summary("a"))  # run_archived, review, approved, champion
    segment = outbox.segments()[0]
    event = outbox.read_segment(segment)[0]
    outbox.keep_failed("hook", segment, 0, event, error="HTTP 500", attempts=10)
    settings = {
        "archive": {"dir": str(manager.archive_dir)},
        "notify": {
            "webhooks": [{"url": "http://127.0.0.1:9/", "name": "hook"}],
            "commands": [{"argv": ["/bin/true"], "name": "deploy", "events": ["champion_changed"]}],
        },
    }
    config = parse_config(settings, tmp_path)
    with TestClient(create_app(config), base_url=ORIGIN) as client:
        text = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    every = len(outbox.read_segment(segment))
    assert samples[("gatewatch_notifications_pending", (("target", "hook"),))] == every
    assert samples[("gatewatch_notifications_pending", (("target", "deploy"),))] == 1
    assert samples[("gatewatch_notifications_failed", (("target", "hook"),))] == 1
    assert samples[("gatewatch_notifications_failed", (("target", "deploy"),))] == 0
    manager.close()


def test_metrics_answer_while_the_outbox_cannot_be_read_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file handles left for the outbox's segments: /metrics still answers, without
    the targets' counts (it was a 500)."""
    from gating import Outbox
    from gating.archive import durable
    from gating.archive import outbox as outbox_module

    manager = TrainingArchiveManager(
        tmp_path / "archive", outbox=Outbox(tmp_path / "archive" / "outbox")
    )
    manager.archive_training_run(make_summary("a"))

    def no_handles(path: Path, max_bytes: int) -> bytes:
        if Path(path).suffix == ".jsonl":
            raise OSError(errno.EMFILE, "Too many open files", str(path))
        return durable.read_regular(path, max_bytes)

    monkeypatch.setattr(outbox_module, "read_regular", no_handles)
    document = {
        "archive": {"dir": str(manager.archive_dir)},
        "notify": {"webhooks": [{"url": "http://127.0.0.1:9/", "name": "hook"}]},
    }
    with TestClient(create_app(parse_config(document, tmp_path)), base_url=ORIGIN) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("gatewatch_archive_runs", ())] == 1
    assert ("gatewatch_notifications_pending", (("target", "hook"),)) not in samples
    manager.close()


@pytest.mark.parametrize("path", ["/static/style.css"])
def test_assets_ship_in_the_package(client: TestClient, path: str) -> None:
    """The stylesheet is served from the package (nothing from the network)."""
    response = client.get(path)
    assert response.status_code == 200
    assert "gatewatch dashboard" in response.text


def test_answers_follow_new_runs(client: TestClient, archive: TrainingArchiveManager) -> None:
    """A run archived after a page was served shows up at once."""
    assert len(client.get("/api/runs").json()) == 2
    assert len(client.get("/api/history/AAPL").json()) == 1
    archive.archive_training_run(
        {
            "run_id": "third",
            "models": {"AAPL": {"fitness": 0.8, "pf": 2, "consistency": 0.9, "max_dd": 0.05}},
        }
    )
    assert len(client.get("/api/runs").json()) == 3
    assert len(client.get("/api/history/AAPL").json()) == 2
    archive.compact()
    assert "third" in client.get("/").text


@pytest.mark.folder_only  # a folder archive's catalog rebuild (run folders to read)
def test_a_busy_archive_is_one_line_and_a_503_everywhere(
    config: Config, archive: TrainingArchiveManager
) -> None:
    """With the catalog to rebuild and the writer lock held elsewhere, each list (whole or the
    newest N), each page and /metrics answer 503 with Retry-After and one line naming the
    lock, not a 200 cut short, a 400 (the request was fine) or a 500."""
    archive.close(fold=False)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{archive.catalog_path}{suffix}").unlink(missing_ok=True)
    manager = TrainingArchiveManager(archive.archive_dir, lock_timeout=0.2)
    held = FileLock(archive.archive_dir / ".lock")
    assert held.try_acquire()
    try:
        with TestClient(create_app(config, manager=manager), base_url=ORIGIN) as client:
            for url in ("/api/runs", "/api/runs?last=1", "/api/history/AAPL", "/api/review",
                        "/api/approved", "/metrics"):  # fmt: skip
                response = client.get(url)
                assert response.status_code == 503, (url, response.text)
                assert int(response.headers["retry-after"]) > 0
                assert "\n" not in response.json()["error"]
                assert "lock" in response.json()["error"]
            for url in ("/", "/review", "/runs/latest", "/symbols/AAPL"):
                response = client.get(url)
                assert response.status_code == 503, (url, response.text)
                assert int(response.headers["retry-after"]) > 0
                assert "the archive is busy" in response.text
    finally:
        held.release()


def test_review_page_shows_each_models_flags(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """The review queue names the flags of a waiting model, as the CLI's table does."""
    flagged = [item for item in archive.pending_reviews() if item.model.get("flags")]
    assert flagged, "the fixture archive has a flagged model awaiting review"
    text = client.get("/review").text
    for item in flagged:
        assert f"flags: {', '.join(item.model['flags'])}" in text


def test_runs_take_a_prefix_or_latest_as_the_cli_does(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """/runs/PREFIX, /runs/latest and /api/runs/latest answer the run the CLI would pick."""
    runs = archive.list_runs()
    latest = runs[-1]["timestamp"]
    assert client.get("/api/runs/latest").json()["timestamp"] == latest
    assert client.get(f"/api/runs/{latest[:-3]}").json()["timestamp"] == latest
    page = client.get("/runs/latest")
    assert page.status_code == 200
    assert latest in page.text
    shared = os.path.commonprefix([r["timestamp"] for r in runs])  # noqa: RUF071 - text, not paths
    ambiguous = client.get(f"/api/runs/{shared}")
    assert ambiguous.status_code == 400
    assert "error" in ambiguous.json()
    assert client.get(f"/runs/{shared}").status_code == 400


@pytest.mark.parametrize(("typed", "found"), [("btc/usd", "BTC/USD"), ("aapl", "AAPL")])
def test_search_ignores_case_and_a_missing_symbol_names_the_likely_one(
    client: TestClient, typed: str, found: str
) -> None:
    """The search box finds a symbol whatever its case; /symbols/x suggests the archived X."""
    redirect = client.get(f"/symbols/?symbol={quote(typed)}", follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == f"/symbols/{quote(found, safe='')}"
    missing = client.get(f"/symbols/{typed}")
    assert missing.status_code == 404
    assert f"did you mean {found}?" in missing.text


def test_home_lists_the_latest_rejected_files_escaped(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """The home page lists rejected files with their reasons; hostile names stay text."""
    assert 'id="rejected"' in client.get("/").text
    assert "No file has been rejected." in client.get("/").text
    archive.writer.reject(b'{"models": "nope"}', source=HOSTILE_SOURCE, reason=f"models: {HOSTILE}")
    text = client.get("/").text
    section = text[text.index('id="rejected"') :]
    assert "&lt;img src=x onerror=alert(2)&gt;_summary.json" in section
    assert "<img src=x" not in text
    assert f"models: {ESCAPED}" in section
    assert "gatewatch rejected" in section


@pytest.mark.parametrize("url", ["/api/runs", "/api/history/AAPL", "/api/review", "/symbols/AAPL"])
@pytest.mark.parametrize("last", ["99999999999999999999", "1" * 5000, "1e3", "٣", "-1", "0"])
def test_a_bad_last_is_a_400_never_a_500(client: TestClient, url: str, last: str) -> None:
    """?last= too large for SQLite, non-ASCII digits or not a count: 400 with one line."""
    response = client.get(url, params={"last": last})
    assert response.status_code == 400
    assert "last" in response.text


def test_a_huge_but_sane_last_lists_everything(
    client: TestClient, archive: TrainingArchiveManager
) -> None:
    """?last= of 18 digits is more runs than any archive holds: all of them."""
    every = client.get("/api/runs", params={"last": "9" * 18}).json()
    assert [run["timestamp"] for run in every] == [r["timestamp"] for r in archive.list_runs()]


@pytest.mark.parametrize(
    "cookie", ["9999999999.é", "1.\u2603", "٣٣٣.abc", "1" * 40 + ".x", "\u2603", ".", "9.9.9"]
)
def test_a_foreign_session_cookie_signs_nobody_in_and_breaks_no_page(
    writer: TestClient, cookie: str
) -> None:
    """A cookie any loopback page may set (non-ASCII, odd digits): every page still answers."""
    header = f"gatewatch_session={cookie}".encode()  # raw bytes, as a browser may send them
    for url in ("/", "/review", "/login"):
        response = writer.get(url, headers={b"cookie": header})
        assert response.status_code == 200, url
        assert "Sign out" not in response.text


@pytest.mark.folder_only
def test_a_browser_decision_reaches_the_outbox_like_decide(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """With [notify] targets, a decision made in the dashboard queues its events once."""
    from gating.archive.outbox import OUTBOX_DIR, Outbox

    document = {
        "archive": {"dir": str(archive.archive_dir)},
        "notify": {"webhooks": [{"url": "http://127.0.0.1:9/hook", "name": "desk"}]},
    }
    config = parse_config(document, tmp_path)
    headers = {"origin": ORIGIN}
    with TestClient(create_app(config, TOKEN), base_url=ORIGIN) as browser:
        form = signed_in_form(browser, archive)
        answer = browser.post("/review/decide", data=form, headers=headers, follow_redirects=False)
        assert answer.status_code == 303
    events = [event for _, _, event in Outbox(archive.archive_dir / OUTBOX_DIR).pending("desk")]
    approved = [e for e in events if e["type"] == "model_approved"]
    assert [(e["data"]["symbol"], e["data"]["by"]) for e in approved] == [("AAPL", "ann")]
    assert [e["type"] for e in events].count("champion_changed") == 1


def test_wrong_tokens_are_throttled_and_logout_revokes_the_cookie(writer: TestClient) -> None:
    """Five wrong tokens: the sixth try is a 429 with Retry-After, the right token too;
    after logout, a copy of the old cookie no longer signs in."""
    headers = {"origin": ORIGIN}
    signed = writer.post("/login", data={"token": TOKEN}, headers=headers, follow_redirects=False)
    assert signed.status_code == 303
    cookie = writer.cookies["gatewatch_session"]
    assert "Sign out" in writer.get("/review").text
    writer.post("/logout", headers=headers)
    replay = writer.get("/review", headers={"cookie": f"gatewatch_session={cookie}"})
    assert "Sign out" not in replay.text
    for _ in range(5):
        assert writer.post("/login", data={"token": "guess"}, headers=headers).status_code == 403
    held = writer.post("/login", data={"token": TOKEN}, headers=headers)
    assert held.status_code == 429
    assert int(held.headers["retry-after"]) > 0


def test_the_review_form_sends_back_a_symbol_with_invisible_characters_as_it_is(
    writer: TestClient, archive: TrainingArchiveManager
) -> None:
    """A symbol with a zero-width space is shown escaped, but its form posts it verbatim:
    the decision lands on that model (the escaped text posted was no symbol of the run)."""
    symbol = "AAPL\u200b"
    model = {"fitness": 0.75, "pf": 1.9, "consistency": 0.88, "max_dd": 0.09}  # REVIEW
    archive.archive_training_run({"run_id": "zw", "models": {symbol: model}})
    headers = {"origin": ORIGIN}
    writer.post("/login", data={"token": TOKEN}, headers=headers)
    page = writer.get("/review").text
    hidden = re.findall(r'name="symbol" value="([^"]*)"', page)
    assert symbol in hidden
    form = {
        "csrf": csrf_token(TOKEN, writer.cookies["gatewatch_session"]),
        "timestamp": archive.list_runs()[-1]["timestamp"],
        "symbol": symbol,
        "verdict": "approve",
        "by": "ann",
        "reason": "checked",
    }
    answer = writer.post("/review/decide", data=form, headers=headers, follow_redirects=False)
    assert answer.status_code == 303
    assert [d.symbol for d in archive.decisions()] == [symbol]
