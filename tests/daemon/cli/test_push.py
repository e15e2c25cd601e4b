"""Tests for daemon.cli.push: what `gatewatch push` says about each summary."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from daemon.cli import main
from gating import Spool
from tests.conftest import summary_bytes
from tests.gating.strangers import answering, hung
from tests.web.served import free_port


def _answer(status: str, body: bytes) -> bytes:
    """A whole HTTP answer with ``body``."""
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status.encode(), len(body), body)


def _push_to(tmp_path: Path, answer: bytes, *, exit_status: int) -> tuple[Path, Spool]:
    """`push` of a summary to a server that answers ``answer``, which must end with
    ``exit_status``; the summary's path and the spool."""
    summary = tmp_path / "a_summary.json"
    summary.write_bytes(summary_bytes("a"))
    spool = Spool(tmp_path / "spool")
    with answering(answer) as url:
        argv = ["push", str(summary), "--to", url, "--spool-dir", str(spool.folder)]
        assert main(argv) == exit_status
    return summary, spool


def test_a_spool_entry_set_aside_on_the_way_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`push FILE` sends the spool first: an entry set aside as damaged then is a line and
    exit 1, as with --spool (it was set aside without a word)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    spool = Spool(tmp_path / "spool")
    spool.folder.mkdir()
    (spool.folder / "00000000000000000001-bad.json").write_bytes(b"{not json")
    summary = tmp_path / "a_summary.json"
    summary.write_bytes(summary_bytes("a"))
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens: the file is spooled
    argv = ["push", str(summary), "--to", url, "--spool-dir", str(spool.folder)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "00000000000000000001-bad.json: skipped: a spool entry that cannot be sent" in err
    assert "a_summary.json: spooled" in err
    assert [p.name for p in spool.set_aside()] == ["00000000000000000001-bad.damaged"]
    assert main(argv) == 0  # said once: the entry set aside before is not news
    assert "skipped" not in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_a_file_that_cannot_be_read_is_one_line_and_the_rest_are_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing FILE among others is a `skipped` line naming why, exit 1, and the others
    are still sent (a bare "[Errno 2]" line ended the command), with what became of the
    summaries the spool sent first."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    spool = Spool(tmp_path / "spool")
    summary = tmp_path / "a_summary.json"
    summary.write_bytes(summary_bytes("a"))
    answer = b'{"outcome": "archived", "timestamp": "20260101T000000000000Z"}'
    http = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
    with answering(http) as url:
        spool.keep(b"{}", url, "kept-earlier")
        missing = str(tmp_path / "missing_summary.json")
        argv = ["push", missing, str(summary), "--to", url, "--spool-dir", str(spool.folder)]
        assert main(argv) == 1
    out, err = capsys.readouterr()
    assert err == f"gatewatch: {missing}: skipped: No such file or directory\n"
    assert out.splitlines() == [
        "archived 20260101T000000000000Z  kept-earlier",
        f"archived 20260101T000000000000Z  {socket.gethostname()}:{summary}",
    ]


@pytest.mark.timeout(30)
def test_a_hostile_server_s_words_are_one_line_with_its_controls_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server refusing the token with an error holding newlines and a terminal escape:
    `push` says it in one line of stderr, the controls shown escaped, exit 2, and the
    summary stays where it was (nothing spooled)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    words = b'{"error": "no\\nsuch token\\u001b[2J\\r\\nreally"}'
    summary, spool = _push_to(tmp_path, _answer("401 Unauthorized", words), exit_status=2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "\x1b" not in err
    assert "no\\nsuch token\\x1b[2J\\r\\nreally" in err
    assert spool.entries() == []
    assert summary.read_bytes() == summary_bytes("a")


@pytest.mark.timeout(30)
def test_a_summary_neither_sent_nor_kept_is_a_failed_line_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server down and a file where the spool folder belongs: one `failed` line that
    says the server cannot be reached and the spool cannot keep it, exit 1, the summary
    left where it is (it said "skipped: File exists", as if the summary were unreadable)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    spool = tmp_path / "spool"
    spool.write_bytes(b"not a folder")
    summary = tmp_path / "a_summary.json"
    summary.write_bytes(summary_bytes("a"))
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    assert main(["push", str(summary), "--to", url, "--spool-dir", str(spool)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    sent_as = f"{socket.gethostname()}:{summary}"  # the host and the absolute path
    assert line.startswith(f"gatewatch: {sent_as}: failed: the server cannot be reached (")
    assert f"and the spool cannot keep it: {spool}: " in line
    assert summary.read_bytes() == summary_bytes("a")


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "answer",
    [
        b"<html>welcome</html>",
        b'{"outcome": "archived", "timestamp": {"x": 1}}',
        b'{"outcome": "archived", "timestamp": null}',
        b"[]",
    ],
    ids=["a-page", "a-dict-for-a-timestamp", "archived-without-a-timestamp", "a-list"],
)
def test_another_web_server_s_answer_is_refused_not_spooled(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: bytes,
) -> None:
    """A 200 whose whole body is not a gatewatch answer (another web server on that port)
    is refused, exit 2, nothing spooled (it was spooled and sent again at every push, or
    printed `archived {'x': 1}`)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    _, spool = _push_to(tmp_path, _answer("200 OK", answer), exit_status=2)
    assert "an answer that is not gatewatch's" in capsys.readouterr().err
    assert spool.entries() == []


@pytest.mark.timeout(60)
def test_files_for_a_server_that_cannot_be_reached_try_it_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`push` of three files to a server that hangs up tries it once; the other two are
    spooled at once (each tried it again: against a hung server, 30 s a file)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    files = []
    for name in ("a", "b", "c"):
        files.append(tmp_path / f"{name}_summary.json")
        files[-1].write_bytes(summary_bytes(name))
    spool, connections = Spool(tmp_path / "spool"), list[socket.socket]()
    with hung(connections, hang_up=True) as url:
        argv = ["push", *map(str, files), "--to", url, "--spool-dir", str(spool.folder)]
        assert main(argv) == 0
    assert len(connections) == 1
    assert capsys.readouterr().err.count(": spooled: ") == 3
    assert len(spool.entries()) == 3


@pytest.mark.timeout(30)
def test_a_refused_file_still_shows_what_was_sent_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file refused (a URL that is no gatewatch server: exit 2) after the spool was sent
    still prints what became of the spool's entries (sent and removed without a word)."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    spool = Spool(tmp_path / "spool")
    summary = tmp_path / "a_summary.json"
    summary.write_bytes(summary_bytes("a"))
    archived = b'{"outcome": "archived", "timestamp": "20260101T000000000000Z"}'
    with answering(_answer("200 OK", archived)) as live, answering(_answer("404 No", b"")) as typo:
        spool.keep(summary_bytes("kept"), live, "kept_summary.json")
        argv = ["push", str(summary), "--to", typo, "--spool-dir", str(spool.folder)]
        assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "archived 20260101T000000000000Z  kept_summary.json" in out
    assert "is it a gatewatch server's URL?" in err


def test_push_spool_says_why_its_entries_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`push --spool` with entries for a server that is down names the server and why,
    before the count of what waits (it said only "1 summary waits")."""
    monkeypatch.setenv("GATEWATCH_SUBMIT_TOKEN", "a-token-long-enough")
    spool = Spool(tmp_path / "spool")
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    spool.keep(summary_bytes("a"), url, "a_summary.json")
    assert main(["push", "--spool", "--spool-dir", str(spool.folder)]) == 0
    err = capsys.readouterr().err
    assert f"gatewatch: {url}/api/runs: " in err
    assert "Connection refused" in err
    assert "1 summary waits" in err
