"""`gatewatch serve` as a process: where it refuses to listen, and that it answers."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import gatewatch_command
from benchmarks.throughput import make_summaries
from daemon.web.security import csrf_token
from daemon.web.server import (
    ACCEPT_FAILED_EVERY,
    BODY_BYTES,
    HEAD_SECONDS,
    KEEP_ALIVE_SECONDS,
    SEND_SECONDS,
    AcceptFailures,
)
from gating import TrainingArchiveManager
from gating.archive.lock import FileLock
from tests.conftest import make_model
from tests.process import signal_storm, wait_until
from tests.web.conftest import TOKEN, url_of
from tests.web.served import (
    TOKEN_ENV,
    answers,
    free_port,
    serve_process,
    serving,
    write_config,
)


def serve_refused(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `gatewatch serve` expecting it to exit at once."""
    return subprocess.run(
        [*gatewatch_command(), "serve", "--config", str(config), *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.folder_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("serving_yet", [False, True])
def test_a_stop_is_exit_0_after_web_stopped(
    tmp_path: Path, archive: TrainingArchiveManager, signum: int, serving_yet: bool
) -> None:
    """SIGTERM (systemd's stop) or Ctrl-C: the dashboard stops, logs web_stopped and exits
    0 (it said "gatewatch: interrupted" and exited 143: a failed unit at every restart)."""
    config = write_config(tmp_path, archive.archive_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    with serve_process(config, log, "--port", str(port)) as process:
        wait_until(lambda: "web_started" in log.read_text(), 20, "serve to start")
        if serving_yet:
            wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), 20, "an answer")
        process.send_signal(signum)  # as it starts, or serving: a stop either way
        assert process.wait(timeout=20) == 0, log.read_text()
    text = log.read_text()
    assert "web_stopped" in text
    assert "interrupted" not in text


@pytest.mark.timeout(60)
def test_beyond_loopback_without_a_token_is_refused(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """--host 0.0.0.0 without a token: exit 2 and one line, no traceback."""
    config = write_config(
        tmp_path, archive.archive_dir, token_env="GATEWATCH_UNSET_FOR_TEST", url=url_of(archive)
    )
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        done = serve_refused(config, "--host", host)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith(f"gatewatch: serve: refusing to listen on {host}")
        assert "set $GATEWATCH_UNSET_FOR_TEST, or listen on 127.0.0.1" in done.stderr
    bad_port = serve_refused(config, "--port", "70000")
    assert bad_port.returncode == 2
    assert bad_port.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_serve_answers_and_logs_json(tmp_path: Path, archive: TrainingArchiveManager) -> None:
    """The process answers the API and logs web_started as a JSON line."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base, urllib.request.urlopen(base + "/api/runs") as answer:
        assert len(json.loads(answer.read())) == 2
    first = json.loads(log.read_text("utf-8").splitlines()[0])
    assert first["event"] == "web_started"
    assert first["writable"] is False


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("variables", "told"), [({}, True), ({"GW_TEST_SUBMIT": "s" * 24}, False)])
def test_a_submit_token_variable_that_is_not_set_is_said_at_start(
    tmp_path: Path, archive: TrainingArchiveManager, variables: dict[str, str], told: bool
) -> None:
    """[serve] submit_token_env naming a variable not set (a typo in its name, say) logs
    web_submissions_off, as a reviewers' token not set logs web_read_only (it only showed
    as ``"submissions": false``); a set one logs nothing of the kind."""
    config = write_config(tmp_path, archive.archive_dir, submit_token_env="GW_TEST_SUBMIT")
    log = tmp_path / "serve.log"
    with serving(config, log=log, extra_env=variables):
        lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    said = [line for line in lines if line["event"] == "web_submissions_off"]
    assert said == ([{**said[0], "reason": "$GW_TEST_SUBMIT is not set"}] if told else [])
    (started,) = [line for line in lines if line["event"] == "web_started"]
    assert started["submissions"] is not told


@pytest.mark.timeout(60)
def test_sighup_gates_runs_sent_by_the_thresholds_read_again(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """SIGHUP reads [gating] again: a run sent then is gated by it, as `run` gates one
    dropped in its folder (SIGHUP ended serve with status 129, and runs sent were gated
    by the thresholds it started with)."""
    env, secret = "GATEWATCH_TEST_SUBMIT", "s" * 20
    config = write_config(tmp_path, archive.archive_dir, submit_token_env=env, url=url_of(archive))
    log = tmp_path / "serve.log"
    with serving(config, log=log, extra_env={env: secret}) as base:
        (started,) = [e for e in map(json.loads, log.read_text().splitlines()) if "pid" in e]
        with config.open("a", encoding="utf-8") as more:
            more.write("[gating]\napproved_min_fitness = 0.8\n")
        os.kill(started["pid"], signal.SIGHUP)
        wait_until(lambda: "config_reloaded" in log.read_text(), 20, "the reload")
        summary = {"run_id": "sent", "models": {"AAPL": make_model(0.75)}}
        request = urllib.request.Request(
            base + "/api/runs",
            data=json.dumps(summary).encode(),
            headers={"Authorization": f"Bearer {secret}"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 201
        with urllib.request.urlopen(base + "/api/runs?last=1", timeout=30) as answer:
            (sent,) = json.loads(answer.read())
    assert (sent["run_id"], sent["approved"], sent["review"]) == ("sent", 0, 1)
    (reloaded,) = [e for e in map(json.loads, log.read_text().splitlines())
                   if e["event"] == "config_reloaded"]  # fmt: skip
    assert reloaded["changed"] == {"gating.approved_min_fitness": [0.7, 0.8]}


def reloaded_then_stopped(process: subprocess.Popen[bytes], log: Path) -> None:
    """``serve`` logs config_reloaded, then SIGTERM ends it with status 0."""
    wait_until(lambda: "config_reloaded" in log.read_text(), 20, "the reload")
    process.terminate()
    assert process.wait(timeout=20) == 0, log.read_text()


@pytest.mark.folder_only
@pytest.mark.timeout(60)
def test_a_burst_of_sighups_neither_hangs_nor_ends_serve(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """SIGHUPs as fast as a process sends them for a second: `serve` answers, then stops
    at SIGTERM, exit 0 (an Event set in the handler waited for ever on its own lock when
    another signal came inside it: the event loop froze, and SIGTERM was not heard)."""
    config = write_config(tmp_path, archive.archive_dir)
    port = free_port()
    log = tmp_path / "serve.log"
    with serve_process(config, log, "--port", str(port)) as process:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), 20, "an answer")
        signal_storm(process.pid, signal.SIGHUP)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=10) as answer:
            assert len(json.loads(answer.read())) == 2
        reloaded_then_stopped(process, log)


@pytest.mark.folder_only
@pytest.mark.timeout(60)
def test_serve_tells_systemd_it_is_ready_once_a_sighup_is_a_reload(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """READY=1 comes once `serve` listens and takes SIGHUP: a SIGHUP then reloads (the unit
    was Type=exec, so systemd sent `reload` at once, and a SIGHUP during the imports ended
    serve with status 129)."""
    config = write_config(tmp_path, archive.archive_dir)
    address = str(tmp_path / "notify.sock")
    log = tmp_path / "serve.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(30)
        environment = {**os.environ, "NOTIFY_SOCKET": address}
        with serve_process(config, log, "--port", "0", env=environment) as process:
            assert notify.recv(4096).decode().startswith("READY=1")
            process.send_signal(signal.SIGHUP)
            reloaded_then_stopped(process, log)


@pytest.mark.folder_only
@pytest.mark.timeout(60)
def test_a_file_where_rejected_belongs_leaves_the_pages_answering(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """A file in _rejected/'s place: the home page and /metrics answer, counting no
    rejected file (both were a 500 with a traceback in the log)."""
    archive.rejected_dir.write_bytes(b"x")
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base:
        with urllib.request.urlopen(base + "/") as answer:
            assert answer.status == 200
        with urllib.request.urlopen(base + "/metrics") as answer:
            assert "gatewatch_files_rejected 0.0" in answer.read().decode()
    assert "Traceback" not in log.read_text("utf-8")


def _post(
    base: str,
    path: str,
    form: dict[str, str],
    cookie: str = "",
    *,
    origin: str | None = None,
    host: str | None = None,
) -> tuple[int, Any]:
    """POST a form as the dashboard's own page would (from ``origin``, naming ``host``, as a
    page reached through a reverse proxy would); (status, headers), redirects not followed."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin or base,
            **({"Host": host} if host else {}),
            **({"Cookie": cookie} if cookie else {}),
        }
        connection.request("POST", path, urllib.parse.urlencode(form), headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.headers
    finally:
        connection.close()


def _approval(session: str) -> dict[str, str]:
    """The form approving the latest run's BTC/USD, by ann, in this session."""
    return {
        "csrf": csrf_token(TOKEN, session.partition("=")[2]),
        "timestamp": "latest",
        "symbol": "BTC/USD",
        "verdict": "approve",
        "by": "ann",
        "reason": "checked by hand",
    }


@pytest.mark.folder_only
@pytest.mark.timeout(90)
@pytest.mark.parametrize("public_url", ["", "https://Dash.Example.com/"])
def test_a_reviewer_behind_a_reverse_proxy_signs_in_and_decides(
    tmp_path: Path, archive: TrainingArchiveManager, public_url: str
) -> None:
    """Through a proxy that passes the browser's Host, or rewrites it to ours: with
    [serve] public_url, a reviewer signs in (a Secure cookie over https) and decides;
    without it, the first is an unexpected Host (400) and the second a foreign form (403),
    as every sign-in through the proxy the docs advise was."""
    config = write_config(tmp_path, archive.archive_dir, TOKEN_ENV)
    text = config.read_text("utf-8").replace("[logging]", f'public_url = "{public_url}"\n[logging]')
    config.write_text(text, "utf-8")
    origin = "https://dash.example.com"
    with serving(config, token=TOKEN) as base:
        passed = _post(base, "/login", {"token": TOKEN}, origin=origin, host="dash.example.com")
        rewritten = _post(base, "/login", {"token": TOKEN}, origin=origin)
        if not public_url:
            assert (passed[0], rewritten[0]) == (400, 403)
            return
        assert (passed[0], rewritten[0]) == (303, 303)
        cookie = passed[1]["set-cookie"]
        assert "secure" in cookie.lower()
        session = cookie.split(";")[0]
        form = _approval(session)
        decided = _post(
            base, "/review/decide", form, session, origin=origin, host="dash.example.com"
        )
        assert decided[0] == 303
        foreign = _post(base, "/review/decide", form, session, origin="https://evil.example.com")
        assert foreign[0] == 403
    assert archive.get_deployable()["BTC/USD"].verdict_by == "ann"


@pytest.mark.folder_only
@pytest.mark.timeout(90)
def test_a_decision_waiting_for_a_busy_archive_holds_up_nothing_and_says_503(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """The writer lock held elsewhere: /health stays fast, the decision is a 503 with
    Retry-After within the bound, and the same decision succeeds once the lock is free."""
    config = write_config(tmp_path, archive.archive_dir, TOKEN_ENV, url=url_of(archive))
    with serving(config, token=TOKEN) as base:
        status, headers = _post(base, "/login", {"token": TOKEN})
        assert status == 303
        session = headers["set-cookie"].split(";")[0]
        form = _approval(session)
        lock = FileLock(archive.archive_dir / ".lock")
        lock.acquire(5)
        try:
            answers: list[tuple[int, Any, float]] = []

            def decide() -> None:
                started = time.monotonic()
                status, headers = _post(base, "/review/decide", form, session)
                answers.append((status, headers, time.monotonic() - started))

            thread = threading.Thread(target=decide)
            thread.start()
            health_times: list[float] = []
            while thread.is_alive() and len(health_times) < 20:
                started = time.monotonic()
                with contextlib.suppress(urllib.error.HTTPError):  # 503: no service runs
                    urllib.request.urlopen(base + "/health", timeout=10).close()
                health_times.append(time.monotonic() - started)
            thread.join(30)
        finally:
            lock.release()
        ((status, headers, waited),) = answers
        assert status == 503
        assert int(headers["retry-after"]) > 0
        assert waited < 15
        assert health_times
        assert max(health_times) < 2.0
        assert _post(base, "/review/decide", form, session)[0] == 303
    assert archive.get_deployable()["BTC/USD"].verdict_by == "ann"


def _get(url: str) -> tuple[int, Any, str]:
    """GET a URL: (status, headers, body), an error status included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers, answer.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8")


READ_PATHS = ["/", "/review", "/runs/latest", "/api/runs", "/api/approved", "/metrics"]


@pytest.mark.folder_only
@pytest.mark.timeout(120)
def test_a_deleted_catalog_while_another_writer_holds_the_lock_is_a_503_then_answers(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """The catalog deleted while another process holds the writer lock (a rebuild, say):
    every page, the API and /metrics answer 503 with one line and Retry-After, nothing
    logs a traceback, and once the lock is free the same requests answer from a rebuilt
    catalog."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base:
        assert _get(base + "/api/runs")[0] == 200  # the process has the catalog open
        lock = FileLock(archive.archive_dir / ".lock")
        lock.acquire(5)
        try:
            for suffix in ("", "-wal", "-shm"):
                (archive.archive_dir / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
            answers: dict[str, tuple[int, Any, str]] = {}
            threads = [
                threading.Thread(target=lambda p=path: answers.update({p: _get(base + p)}))
                for path in READ_PATHS
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            lock.release()
        for path in READ_PATHS:
            status, headers, body = answers[path]
            assert status == 503, (path, status, body[:300])
            assert int(headers["retry-after"]) > 0, path
            assert "the archive is busy" in body, path
        assert json.loads(answers["/api/runs"][2])["error"].count("\n") == 0
        for path in READ_PATHS:
            assert _get(base + path)[0] == 200, path
        assert len(json.loads(_get(base + "/api/runs")[2])) == 2
    assert "Traceback" not in log.read_text("utf-8")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_one_character_token_is_refused_at_start(
    tmp_path: Path, archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """A write token under 16 characters: exit 2 with one line naming the variable."""
    config = write_config(tmp_path, archive.archive_dir, token_env=TOKEN_ENV, url=url_of(archive))
    monkeypatch.setenv(TOKEN_ENV, "x")
    done = serve_refused(config, "--host", host)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert f"${TOKEN_ENV}: the write token is 1 characters" in done.stderr


@pytest.mark.timeout(60)
def test_a_short_submit_token_is_called_the_submit_token(
    tmp_path: Path, archive: TrainingArchiveManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submit token under 16 characters is named as such (it was "the write token")."""
    config = write_config(
        tmp_path, archive.archive_dir, submit_token_env="GATEWATCH_TEST_SUBMIT", url=url_of(archive)
    )
    monkeypatch.setenv("GATEWATCH_TEST_SUBMIT", "short")
    done = serve_refused(config)
    assert done.returncode == 2, done.stderr
    assert "$GATEWATCH_TEST_SUBMIT: the submit token is 5 characters" in done.stderr


@pytest.mark.folder_only
@pytest.mark.timeout(120)
def test_a_catalog_to_rebuild_is_rebuilt_aside_and_every_request_answers_within_seconds(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """The catalog deleted while another process holds the writer lock: the dashboard
    rebuilds it on a thread of its own, so each request answers 503 within about a second
    saying the catalog is being rebuilt (each waited the 5 s lock timeout, and the one
    doing the rebuild was held for all of it: minutes at a million runs); once the lock is
    free the same pages answer from the one rebuild."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base:
        lock = FileLock(archive.archive_dir / ".lock")
        lock.acquire(5)
        try:
            for suffix in ("", "-wal", "-shm"):
                (archive.archive_dir / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
            for path in ("/", "/api/runs", "/review"):
                began = time.monotonic()
                status, headers, body = _get(base + path)
                took = time.monotonic() - began
                assert status == 503, (path, body[:300])
                assert took < 3, (path, took)
                assert "the catalog is being rebuilt" in body, path
                assert int(headers["retry-after"]) > 0
        finally:
            lock.release()
        wait_until(lambda: _get(base + "/api/runs")[0] == 200, 60, "the rebuilt catalog")
        assert len(json.loads(_get(base + "/api/runs")[2])) == 2
    logged = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert [e["event"] for e in logged].count("index_damaged") == 1
    assert "Traceback" not in log.read_text("utf-8")


_SUBMIT = "a-submit-token-of-the-slow-clients"
_H = HEAD_SECONDS


def _post_head(length: int, token: bool = True) -> bytes:
    """The head of a POST /api/runs of ``length`` bytes, with the submit token or none."""
    auth = f"Authorization: Bearer {_SUBMIT}\r\n" if token else ""
    host = "Host: 127.0.0.1\r\n"
    return f"POST /api/runs HTTP/1.1\r\n{host}{auth}Content-Length: {length}\r\n\r\n".encode()


_GET = b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
_SLOW_HEAD = b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 500

# Each slow client: what it sends when (seconds in), when it must be hung up on (a range
# of seconds in), and how many answers it must have got by then.
_CLIENTS: dict[str, tuple[list[tuple[float, bytes]], tuple[float, float], int]] = {
    # A summary's body a byte a second: closed at the end of its first window.
    "slow body": (
        [(0, _post_head(100_000)), *((n, b"x") for n in range(1, 60))],
        (_H - 1, _H + 5),
        0,
    ),
    # A body in time (BODY_BYTES in its first window, whole after it: answered 422, not
    # JSON), then the next head a byte a second: closed a window after that answer.
    "second head": (
        [
            (0, _post_head(BODY_BYTES + 1001)),
            (_H / 2, b"x" * (BODY_BYTES + 1000)),
            (_H + 1, b"x"),
            *((_H + 2 + n, bytes([c])) for n, c in enumerate(_SLOW_HEAD)),
        ],
        (2 * _H, 2 * _H + 6),
        1,
    ),
    # Answered 401 at once; the body still comes, fast enough, but for ever: one window.
    "body after its answer": (
        [(0, _post_head(10**12, token=False)), *((n, b"x" * 2048) for n in range(1, 60))],
        (_H - 1, _H + 5),
        1,
    ),
    # Answered 401 at once, its body ends late in that window; the next head, sent in
    # three parts, has a window of its own from there: answered (then the connection,
    # idle, is closed after uvicorn's keep-alive of 5 s, or not before the test ends).
    "head after a late body": (
        [
            (0, _post_head(1000, token=False)),
            (1, b"x" * 500),
            (_H - 1, b"x" * 500),
            (_H - 0.5, _GET[:10]),
            (_H + 1, _GET[10:20]),
            (_H + 2.5, _GET[20:]),
        ],
        (_H + 3, math.inf),
        2,
    ),
}


def _closed(sock: socket.socket, answers: list[bytes]) -> bool:
    """Read what came: False while the server is there (its answers kept), True once it
    hung up (its end closed or reset)."""
    try:
        data = sock.recv(65536)
    except ConnectionError:
        return True
    answers.append(data)
    return data == b""


@pytest.mark.folder_only
@pytest.mark.timeout(90)
def test_clients_that_fall_behind_are_hung_up_on_and_only_they(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """A body trickled a byte a second, a second request's head trickled after a first
    one in time, and a body still coming after its answer are hung up on within their
    window (each was held for ever: the deadline looked at the first head only), while a
    head after a late body gets a window of its own and is answered, as is a whole
    request meanwhile."""
    config = write_config(tmp_path, archive.archive_dir, submit_token_env="GATEWATCH_TEST_SUBMIT")
    with serving(config, extra_env={"GATEWATCH_TEST_SUBMIT": _SUBMIT}) as base:
        port = int(urllib.parse.urlsplit(base).port or 0)
        sockets = {name: socket.create_connection(("127.0.0.1", port)) for name in _CLIENTS}
        due = {name: list(plan) for name, (plan, _, _) in _CLIENTS.items()}
        answers: dict[str, list[bytes]] = {name: [] for name in _CLIENTS}
        closed: dict[str, float] = {}
        began = time.monotonic()
        while sockets and time.monotonic() - began < 3 * _H + 5:
            readable, _, _ = select.select(list(sockets.values()), [], [], 0.1)
            now = time.monotonic() - began
            for name, sock in list(sockets.items()):
                if sock in readable and _closed(sock, answers[name]):
                    closed[name] = now
                    sock.close()
                    del sockets[name]
                    continue
                while due[name] and due[name][0][0] <= now:
                    with contextlib.suppress(ConnectionError):
                        sock.sendall(due[name].pop(0)[1])
        for sock in sockets.values():
            sock.close()
        with urllib.request.urlopen(base + "/api/runs", timeout=10) as answer:
            assert answer.status == 200
    for name, (_, window, answered) in _CLIENTS.items():
        got = b"".join(answers[name]).count(b"HTTP/1.1 ")
        assert got == answered, (name, answers[name])
        assert window[0] <= closed.get(name, math.inf) <= window[1], (name, closed)


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's state of a TCP socket (1 established, 7 closed: reset by the peer)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def _slow_read(port: int) -> tuple[bytes, float]:
    """GET /api/runs through a 4 kB window, read at 16 kB a second: (body, seconds)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.sock = sock  # the small receive window: the server's side holds the rest
    connection.request("GET", "/api/runs")
    response = connection.getresponse()
    began, body = time.monotonic(), b""
    while part := response.read(4096):
        body += part
        time.sleep(0.25)  # the slow client itself, reading 16 kB a second
    connection.close()
    return body, time.monotonic() - began


@pytest.mark.folder_only
@pytest.mark.timeout(120)
def test_clients_that_never_read_are_reset_and_one_reading_slowly_gets_everything(
    tmp_path: Path,
) -> None:
    """Clients asking for large answers (pipelined) and never reading them are reset,
    their answers dropped, after SEND_SECONDS of nothing drained: when the answers fill
    more than the kernel holds (one held its connection and ~4 MB for ever) and when they
    fit (a close left the kernel holding ~2 MB and sending on). Meanwhile a client reading
    a 250 kB answer at 16 kB/s, longer than the idle and head deadlines, gets every byte
    (it was reset once its answer sat unsent for KEEP_ALIVE_SECONDS, or HEAD_SECONDS,
    after it was handed over), and others are answered."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(make_summaries(2000))  # each listing ~250 kB
    archive.close()
    config = write_config(tmp_path, archive.archive_dir)
    with serving(config) as base:
        with urllib.request.urlopen(base + "/api/runs", timeout=30) as answer:
            whole = answer.read()
        port = int(urllib.parse.urlsplit(base).port or 0)
        slow: list[tuple[bytes, float]] = []
        reader = threading.Thread(target=lambda: slow.append(_slow_read(port)))
        reader.start()
        silent = []
        for asks in (20, 8):  # more than the kernel holds, and what it holds
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * asks)
            silent.append(sock)
        began = time.monotonic()
        with urllib.request.urlopen(base + "/api/runs?last=5", timeout=10) as answer:
            assert answer.status == 200
        wait_until(
            lambda: all(_tcp_state(sock) == 7 for sock in silent), SEND_SECONDS + 30, "resets"
        )
        assert time.monotonic() - began >= SEND_SECONDS - 1
        for sock in silent:
            sock.close()
        reader.join(60)
    ((body, seconds),) = slow
    assert seconds > HEAD_SECONDS + KEEP_ALIVE_SECONDS
    assert json.loads(body) == json.loads(whole)


@pytest.mark.timeout(60)
@pytest.mark.folder_only
def test_the_next_head_has_head_seconds_from_the_answer_read(tmp_path: Path) -> None:
    """After a 50 kB answer read at once through a small window (still unsent as it was
    handed over), a second head trickled a byte a second is hung up on HEAD_SECONDS after
    the answer was read (a reading client's extra window doubled it: 20 s)."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(make_summaries(400))  # the listing is ~50 kB
    archive.close()
    config = write_config(tmp_path, archive.archive_dir)
    with serving(config) as base:
        port = int(urllib.parse.urlsplit(base).port or 0)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.sock = sock
            connection.request("GET", "/api/runs")
            assert len(connection.getresponse().read()) > 40_000
            read_at = time.monotonic()
            sock.sendall(b"GET /api/runs HTTP/1.1\r\n")  # the next head, never finished
            sock.settimeout(1.0)
            closed = None
            while closed is None and time.monotonic() - read_at < 3 * HEAD_SECONDS:
                try:
                    if sock.recv(100) == b"":
                        closed = time.monotonic()
                except TimeoutError:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")
                except OSError:  # reset
                    closed = time.monotonic()
    assert closed is not None
    assert HEAD_SECONDS - 1 <= closed - read_at <= HEAD_SECONDS + 3


@pytest.mark.timeout(60)
def test_a_connection_that_never_finishes_its_request_is_closed(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """A client that connects and sends half a request head (slowloris) is hung up on
    after HEAD_SECONDS (it was held for ever: 1,100 of them froze the dashboard), while a
    whole request meanwhile is answered."""
    config = write_config(tmp_path, archive.archive_dir, url=url_of(archive))
    with serving(config) as base:
        port = int(urllib.parse.urlsplit(base).port or 0)
        with socket.create_connection(("127.0.0.1", port), timeout=HEAD_SECONDS + 15) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            began = time.monotonic()
            with urllib.request.urlopen(base + "/api/runs", timeout=10) as answer:
                assert answer.status == 200
            assert slow.recv(1024) == b""  # closed by the server, no answer
            assert HEAD_SECONDS - 1 <= time.monotonic() - began <= HEAD_SECONDS + 10


class _Loop:
    """What AcceptFailures needs of an event loop: the default handler, recorded."""

    def __init__(self) -> None:
        self.logged: list[str] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.logged.append(context["message"])


def test_accept_failures_are_logged_once_a_minute_saying_how_many_were_held_back() -> None:
    """accept() out of descriptors: the first failure is logged, the next ones within
    ACCEPT_FAILED_EVERY are counted, then one line says how many; other errors pass."""
    now = [0.0]
    handler, loop = AcceptFailures(lambda: now[0]), _Loop()
    failed = {"message": "socket.accept() out of system resource"}
    for moment in (0.0, 1.0, 2.0, ACCEPT_FAILED_EVERY - 0.1):
        now[0] = moment
        handler(loop, failed)  # type: ignore[arg-type]
    handler(loop, {"message": "Task exception was never retrieved"})  # type: ignore[arg-type]
    now[0] = ACCEPT_FAILED_EVERY
    handler(loop, failed)  # type: ignore[arg-type]
    handler(loop, failed)  # type: ignore[arg-type]
    assert loop.logged == [
        "socket.accept() out of system resource",
        "Task exception was never retrieved",
        "socket.accept() out of system resource (3 more since the last such line)",
    ]


@pytest.mark.timeout(60)
def test_a_process_out_of_descriptors_logs_one_line_and_answers_once_they_are_free(
    tmp_path: Path,
) -> None:
    """The serve process allowed few files and sent more connections than it can take:
    one line says accept() is out of system resource (66,000 lines, 33 MB, came in eight
    seconds), and once the clients are gone it answers again."""
    archive = TrainingArchiveManager(tmp_path / "archive", durable=False)
    archive.archive_training_runs(make_summaries(2))
    archive.close()
    config = write_config(tmp_path, archive.archive_dir)
    log = tmp_path / "serve.log"
    with serving(config, log=log) as base:
        port = int(urllib.parse.urlsplit(base).port or 0)
        (pid,) = [json.loads(line)["pid"] for line in log.read_text().splitlines()[:1]]
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.prlimit(
            pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + 8, hard)
        )

        def failures() -> int:
            return log.read_text().count("out of system resource")

        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        try:
            wait_until(failures, 20, "accept() to fail")
            began = time.monotonic()
            # asyncio tries again each second: three tries fit in this window, none logged
            while time.monotonic() - began < 3.5:
                assert failures() == 1
                time.sleep(0.1)
        finally:
            for client in clients:
                client.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (1024, hard))
        with urllib.request.urlopen(base + "/api/runs", timeout=10) as answer:
            assert len(json.loads(answer.read())) == 2


@pytest.mark.folder_only
@pytest.mark.timeout(120)
def test_runs_sent_while_the_archive_is_busy_leave_the_pages_answering(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """60 runs sent at once while another process holds the writer lock: each is a 503
    (after the lock wait, or at once when WRITES_WAITING already wait), and a page asked
    meanwhile answers within 2 s (the runs took every thread and a page waited 14 s)."""
    submit = "a-submit-token-long-enough-for-the-tests"
    env = "GATEWATCH_TEST_SUBMIT_TOKEN"
    config = write_config(tmp_path, archive.archive_dir, submit_token_env=env, url=url_of(archive))
    bodies = make_summaries(60, seed=7)
    with serving(config, extra_env={env: submit}) as base:
        lock = FileLock(archive.archive_dir / ".lock")
        lock.acquire(5)
        statuses: list[int] = []

        def send(body: bytes) -> None:
            request = urllib.request.Request(
                base + "/api/runs", data=body, headers={"Authorization": f"Bearer {submit}"}
            )
            try:
                urllib.request.urlopen(request, timeout=90).close()
                statuses.append(200)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)

        senders = [threading.Thread(target=send, args=(body,)) for body in bodies]
        try:
            for sender in senders:
                sender.start()
            page_times: list[float] = []
            while any(s.is_alive() for s in senders) and len(page_times) < 10:
                started = time.monotonic()
                urllib.request.urlopen(base + "/api/runs?last=1", timeout=30).close()
                page_times.append(time.monotonic() - started)
        finally:
            for sender in senders:
                sender.join(90)
            lock.release()
        assert page_times
        assert max(page_times) < 2.0, page_times
        assert statuses == [503] * 60


@pytest.mark.folder_only
@pytest.mark.timeout(120)
def test_runs_sent_whose_bodies_come_late_are_counted_from_their_head(
    tmp_path: Path, archive: TrainingArchiveManager
) -> None:
    """30 senders send their heads, then wait: WRITERS + WRITES_WAITING (12) are let in and
    the other 18 are refused at once, before any body is read (all 30 were let in, to wait
    on the writer lock one after another: 125 s for the last answer at 100 senders)."""
    submit = "a-submit-token-long-enough-for-the-tests"
    env = "GATEWATCH_TEST_SUBMIT_TOKEN"
    config = write_config(tmp_path, archive.archive_dir, submit_token_env=env, url=url_of(archive))
    bodies = make_summaries(30, seed=8)
    with serving(config, extra_env={env: submit}) as base:
        address = urllib.parse.urlsplit(base)
        lock = FileLock(archive.archive_dir / ".lock")
        lock.acquire(5)
        senders = []
        try:
            for body in bodies:
                sender = socket.create_connection((address.hostname, address.port), timeout=60)
                head = (
                    f"POST /api/runs HTTP/1.1\r\nHost: {address.netloc}\r\n"
                    f"Authorization: Bearer {submit}\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                sender.sendall(head.encode())
                senders.append(sender)

            def answered() -> list[socket.socket]:
                ready, _, _ = select.select(senders, [], [], 0.05)
                return ready if len(ready) >= 18 else []

            refused = wait_until(answered, 30, "18 senders refused before their bodies")
            for sender in refused:
                assert sender.recv(65536).startswith(b"HTTP/1.1 503 ")
            assert len(refused) == 18
        finally:
            lock.release()
            for sender in senders:
                sender.close()
