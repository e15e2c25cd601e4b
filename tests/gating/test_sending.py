"""Tests for gating.sending: the spool keeps each summary once, durably, in order."""

from __future__ import annotations

import base64
import errno
import json
import os
import socket
import time
from pathlib import Path

import pytest

from gating import PushRefusedError
from gating import sending as sending_module
from gating.sending import PushResult, Spool, default_spool, push
from tests.gating.strangers import answering, certificate, hung, streaming
from tests.web.served import free_port

URL = "http://127.0.0.1:9"


def test_the_same_bytes_for_the_same_server_are_kept_once(tmp_path: Path) -> None:
    """Keeping twice gives one entry; another server or other bytes another, oldest first."""
    spool = Spool(tmp_path / "spool")
    first = spool.keep(b"{}", URL, "a")
    assert spool.keep(b"{}", URL + "/", "a") == first
    second = spool.keep(b"{}", "http://other:8470", "a")
    third = spool.keep(b'{"x": 1}', URL, "b")
    assert spool.entries() == [first, second, third]
    assert json.loads(third.read_text("utf-8"))["source"] == "b"


def test_an_unreachable_server_leaves_every_entry(tmp_path: Path) -> None:
    """send stops at the first entry whose server cannot be reached and removes nothing."""
    spool = Spool(tmp_path / "spool")
    url = f"http://127.0.0.1:{free_port()}"
    kept = [spool.keep(f'{{"n": {i}}}'.encode(), url, f"s{i}") for i in range(3)]
    assert spool.send("a-token-long-enough", timeout=5) == ([], 3)
    assert spool.entries() == kept


NO_SERVER = json.dumps({"url": "127.0.0.1:8470", "source": "s", "summary": "e30="}).encode()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[" * 100_000 + b"]" * 100_000, NO_SERVER],
    ids=["garbage", "deep", "no-scheme"],
)
def test_a_damaged_entry_is_set_aside(tmp_path: Path, content: bytes) -> None:
    """An entry that is not one of ours (garbage, or nested 100,000 deep: that one was a
    RecursionError traceback, and every later push failed on it), or kept for no server's
    URL (it failed as unreachable forever, and held every later push back) is renamed
    *.damaged, said so, and the rest go on."""
    spool = Spool(tmp_path / "spool")
    spool.folder.mkdir()
    (spool.folder / "00000000000000000001-bad.json").write_bytes(content)
    [result], left = spool.send("a-token-long-enough", timeout=5)
    assert (result.source, result.outcome, left) == ("00000000000000000001-bad.json", "skipped", 0)
    assert "set aside as" in str(result.reason)
    assert [p.name for p in spool.folder.iterdir()] == ["00000000000000000001-bad.damaged"]


def test_an_entry_that_cannot_be_read_now_is_left_not_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file handles left while an entry is read: it stays in the spool for the next
    push, counted as left (it was set aside *.damaged, never to be sent)."""
    spool = Spool(tmp_path / "spool")
    kept = spool.keep(b"{}", URL, "a")

    def no_handles(path: Path, max_bytes: int) -> bytes:
        raise OSError(errno.EMFILE, "Too many open files", str(path))

    monkeypatch.setattr(sending_module, "read_regular", no_handles)
    assert spool.send("a-token-long-enough", timeout=5) == ([], 1)
    assert spool.entries() == [kept]


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8470",
        "ftp://host/",
        "http://",
        "trainer-box",
        "http://[::1",
        "http://[::1]:abc",
        "http://local host:8470",
        "http://localhost:99999",
        "http://host:8470/ ",
    ],
)
def test_a_url_that_is_no_server_is_refused_and_nothing_kept(tmp_path: Path, url: str) -> None:
    """A typo in the URL is PushRefusedError, not a server that is down (it was spooled,
    and the summary waited for a server that can never answer)."""
    spool = Spool(tmp_path / "spool")
    with pytest.raises(PushRefusedError, match="is not a server's URL"):
        push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
    assert spool.entries() == []
    kept = spool.keep(b"{}", URL, "a")
    for sending in (
        lambda: push(b"{}", url=URL, token="t" * 20, spool=spool.folder, spool_to=url),
        lambda: spool.send("a-token-long-enough", url=url),
    ):
        with pytest.raises(PushRefusedError, match="is not a server's URL"):
            sending()
        assert spool.entries() == [kept]


def test_a_url_with_a_user_or_password_is_refused_never_shown_nor_kept(tmp_path: Path) -> None:
    """``http://user:secret@host`` is refused without naming the secret (it failed as a
    name that does not resolve, and was spooled with the password in the file)."""
    spool = Spool(tmp_path / "spool")
    for url in ("http://ann:s3cret@127.0.0.1:8470", "http://ann@127.0.0.1:8470"):
        with pytest.raises(PushRefusedError, match="holds no user or password") as refused:
            push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
        assert "s3cret" not in str(refused.value)
    assert spool.entries() == []


def test_the_default_spool_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$XDG_CACHE_HOME/gatewatch/spool when set."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_spool() == tmp_path / "gatewatch" / "spool"


def test_a_result_is_shown_as_archive_json_shows_a_file() -> None:
    """The four keys of `archive --json`, in its order."""
    result = PushResult("f.json", "archived", "20260101T000000000000Z")
    assert list(result.as_dict()) == ["source", "outcome", "timestamp", "reason"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_pushing_a_file_that_is_not_regular_is_one_oserror(tmp_path: Path, kind: str) -> None:
    """A FIFO is refused without blocking and /dev/zero without reading it (the one hung
    push for good, the other filled the memory); nothing is sent or spooled."""
    path = tmp_path / "fifo_summary.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    spool = Spool(tmp_path / "spool")
    with pytest.raises(OSError, match="not a regular file"):
        push(path, url=URL, token="a-token-long-enough", spool=spool.folder)
    assert spool.entries() == []


def test_a_symlink_to_a_summary_is_followed(tmp_path: Path) -> None:
    """A link the sender names to a regular summary is read (and spooled here, the server
    being unreachable)."""
    target = tmp_path / "run_summary.json"
    target.write_bytes(b'{"models": {}}')
    (tmp_path / "latest_summary.json").symlink_to(target)
    spool = Spool(tmp_path / "spool")
    push(tmp_path / "latest_summary.json", url=URL, token="a-token-long-enough", spool=spool.folder)
    assert len(spool.entries()) == 1


@pytest.mark.parametrize("token", ["tok en-long-enough", "smart\u2019quote-token", "tab\there-x"])
def test_a_token_a_header_cannot_carry_is_refused_and_never_shown(
    tmp_path: Path, token: str
) -> None:
    """A token with a space, a letter beyond ASCII or a control is refused in words that
    do not show it (it was spooled as "cannot be reached", the token in the reason)."""
    with pytest.raises(PushRefusedError, match="submit token holds characters") as refused:
        push(b"{}", url=URL, token=token, spool=tmp_path / "spool")
    assert token not in str(refused.value)
    assert Spool(tmp_path / "spool").entries() == []


def _http(status: str, body: bytes = b"", length: int | None = None) -> bytes:
    """An HTTP/1.1 answer with ``status`` and ``body`` (announced as ``length`` bytes)."""
    size = len(body) if length is None else length
    return f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n".encode() + body


GATEWATCH_ANSWER = b'{"outcome": "archived", "timestamp": "20260101T000000000000Z"}'
# A redirect elsewhere: followed, it sent the submit token there as a GET.
_REDIRECT = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("answer", "spooled"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", False),
        (_http("501 Unsupported method ('POST')", b"<html>no</html>"), False),
        (_http("404 Not Found"), False),
        (b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70_000 + b"\r\n\r\n", False),
        (_http("503 Service Unavailable"), True),
        (_http("502 Bad Gateway", b"<html>proxy</html>"), True),
        (_http("200 OK", GATEWATCH_ANSWER[:20], length=len(GATEWATCH_ANSWER)), True),
        (b"", True),
        (_REDIRECT, False),
    ],
    ids=["ssh", "501", "404", "header-too-long", "503", "502", "cut-short", "hang-up", "302"],
)
def test_an_answer_that_is_not_gatewatch_s_is_refused_or_spooled(
    tmp_path: Path, answer: bytes, spooled: bool
) -> None:
    """Whatever answers on the port, push ends in one of two ways: spooled when the server
    may take it later (5xx, a hang-up, an answer cut short: that one was an IncompleteRead
    traceback), or PushRefusedError when the URL reaches no gatewatch server (an SSH banner
    was a BadStatusLine traceback; a 501 from `python -m http.server` was spooled for good)."""
    spool = Spool(tmp_path / "spool")
    with answering(answer) as url:
        if spooled:
            result = push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
            assert result.outcome == "spooled"
            assert len(spool.entries()) == 1
        else:
            with pytest.raises(PushRefusedError, match=r"/api/runs: "):
                push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
            assert spool.entries() == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("days", "trusted", "spooled"),
    [((-30, -1), True, True), ((1, 30), True, True), ((-1, 30), False, False)],
    ids=["lapsed", "not-yet-valid", "not-trusted"],
)
def test_a_certificate_out_of_its_dates_is_spooled_one_not_trusted_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    days: tuple[int, int],
    trusted: bool,
    spooled: bool,
) -> None:
    """A server whose certificate lapsed (or is not valid yet: a clock off) will be fixed
    by its operator, so the summary waits in the spool (it was refused, and a notebook
    lost it); one signed by nobody the sender trusts is refused."""
    tls = certificate(tmp_path, days)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    spool = Spool(tmp_path / "spool")
    with answering(_http("200 OK", GATEWATCH_ANSWER), tls=tls) as url:
        if spooled:
            result = push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
            assert (result.outcome, len(spool.entries())) == ("spooled", 1)
            assert "certificate" in str(result.reason)
        else:
            with pytest.raises(PushRefusedError, match="certificate verify failed"):
                push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder)
            assert spool.entries() == []


@pytest.mark.timeout(30)
def test_a_trusted_certificate_in_its_dates_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same server with a certificate in its dates takes the summary: the tests above
    fail for the dates, not for how the certificate is made."""
    tls = certificate(tmp_path, (-1, 30))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    with answering(_http("200 OK", GATEWATCH_ANSWER), tls=tls) as url:
        result = push(b"{}", url=url, token="a-token-long-enough", spool=tmp_path / "spool")
    assert (result.outcome, result.timestamp) == ("archived", "20260101T000000000000Z")


@pytest.mark.timeout(30)
def test_a_server_that_is_down_holds_back_only_its_own_summaries(tmp_path: Path) -> None:
    """Summaries kept for a dead server wait, in order, while one for a live server is
    sent and the result tells what became of those sent from the spool first (a dead
    server's entry held every later push back, to any server, spooled as unreachable)."""
    spool = Spool(tmp_path / "spool")
    dead = f"http://127.0.0.1:{free_port()}"
    with answering(_http("200 OK", GATEWATCH_ANSWER)) as live:
        kept = [spool.keep(b'{"n": 1}', dead, "d1"), spool.keep(b'{"n": 2}', live, "l1")]
        kept.append(spool.keep(b'{"n": 3}', dead, "d2"))
        result = push(b"{}", url=live, token="a-token-long-enough", spool=spool.folder)
        assert (result.outcome, [r.outcome for r in result.earlier]) == ("archived", ["archived"])
        assert spool.entries() == [kept[0], kept[2]]
        later = push(b'{"n": 4}', url=dead, token="a-token-long-enough", spool=spool.folder)
    assert later.outcome == "spooled"
    assert "cannot be reached" in str(later.reason)
    assert spool.entries()[:2] == [kept[0], kept[2]]
    assert len(spool.entries()) == 3


@pytest.mark.timeout(30)
def test_a_wrong_token_is_refused_though_a_dead_server_s_summaries_wait(tmp_path: Path) -> None:
    """A token the live server refuses is PushRefusedError, not spooled behind a summary
    kept for another server that is down (it was spooled, exit 0: the token never tried)."""
    spool = Spool(tmp_path / "spool")
    spool.keep(b"{}", f"http://127.0.0.1:{free_port()}", "old")
    refusal = _http("401 Unauthorized", b'{"error": "a submit token is needed"}')
    with answering(refusal) as live, pytest.raises(PushRefusedError, match="token"):
        push(b'{"n": 1}', url=live, token="a-wrong-token-long-enough", spool=spool.folder)
    assert len(spool.entries()) == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("head", "piece", "every", "why"),
    [
        (b"HTTP/1.1 201 Created\r\n\r\n", b"x" * 65536, 0.0, "not gatewatch's"),
        (b"HTTP/1.1 201 Created\r\n\r\n", b" ", 0.05, "longer than the timeout"),
        (b"HTTP/1.1 201 Created\r\nX-Slow: ", b"x", 0.05, "longer than the timeout"),
        (b"HTTP/1.1 ", b"2", 0.05, "longer than the timeout"),
    ],
    ids=["without-end", "a-byte-at-a-time", "a-header-a-byte-at-a-time", "a-status-line-too"],
)
def test_an_answer_without_end_is_cut_and_the_summary_spooled(
    tmp_path: Path, head: bytes, piece: bytes, every: float, why: str
) -> None:
    """A 201 whose body never ends is read no further than 64 KiB (it filled 23 GB of the
    sender's memory), and one trickled a byte at a time, its head included, is cut at the
    timeout (it held the sender for ever; a header line would have taken 55 minutes):
    the summary waits in the spool."""
    spool = Spool(tmp_path / "spool")
    began = time.monotonic()
    with streaming(head, piece, every) as url:
        result = push(b"{}", url=url, token="a-token-long-enough", spool=spool.folder, timeout=2)
    assert (result.outcome, len(spool.entries())) == ("spooled", 1)
    assert why in str(result.reason)
    assert time.monotonic() - began < 10


@pytest.mark.timeout(30)
def test_entries_for_a_server_that_refuses_the_token_wait_and_hold_back_no_other(
    tmp_path: Path,
) -> None:
    """A kept summary whose server now refuses the token (rotated) waits, and a summary
    for another server is sent (every push failed on that entry, naming the other
    server); a summary pushed to the refusing server is refused, not spooled."""
    spool = Spool(tmp_path / "spool")
    refusal = _http("401 Unauthorized", b'{"error": "a submit token is needed"}')
    with answering(refusal) as refusing, answering(_http("200 OK", GATEWATCH_ANSWER)) as live:
        kept = spool.keep(b'{"n": 1}', refusing, "old")
        result = push(b'{"n": 2}', url=live, token="a-token-long-enough", spool=spool.folder)
        assert (result.outcome, result.earlier) == ("archived", ())
        assert spool.entries() == [kept]
        with pytest.raises(PushRefusedError, match="a submit token is needed"):
            push(b'{"n": 3}', url=refusing, token="a-token-long-enough", spool=spool.folder)
    assert spool.entries() == [kept]


@pytest.mark.timeout(30)
def test_an_entry_another_push_took_meanwhile_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pushes sharing a spool: an entry the other sent (and removed) between this
    one's listing and its reading is passed over, and this push's own summary is sent
    (it was 'skipped: No such file or directory', and the summary lost)."""
    spool = Spool(tmp_path / "spool")
    with answering(_http("200 OK", GATEWATCH_ANSWER)) as live:
        kept = spool.keep(b'{"n": 1}', live, "old")
        listed = [kept, spool.folder / "00000000000000000001-gone.json"]
        monkeypatch.setattr(Spool, "entries", lambda self: listed)
        result = push(b'{"n": 2}', url=live, token="a-token-long-enough", spool=spool.folder)
    assert result.outcome == "archived"
    assert [r.outcome for r in result.earlier] == ["archived"]
    assert not kept.exists()


@pytest.mark.timeout(30)
def test_an_answer_of_no_gatewatch_server_sets_aside_one_entry_and_holds_the_rest(
    tmp_path: Path,
) -> None:
    """A server that now answers as no gatewatch server (a portal's page, say) sets aside
    the first entry kept for it and the others wait, in order (every entry queued for it
    was set aside at once)."""
    spool = Spool(tmp_path / "spool")
    with answering(_http("200 OK", b"<html>sign in</html>")) as portal:
        kept = [spool.keep(b'{"n": %d}' % n, portal, f"kept-{n}") for n in range(3)]
        results, left, _ = spool.send_reporting("a-token-long-enough")
    assert [r.outcome for r in results] == ["skipped"]
    assert "not gatewatch's" in str(results[0].reason)
    assert (left, spool.entries()) == (2, kept[1:])
    assert [p.name for p in spool.set_aside()] == [kept[0].with_suffix(".damaged").name]


@pytest.mark.timeout(30)
def test_a_spooled_summary_refused_as_too_large_is_set_aside_never_lost(tmp_path: Path) -> None:
    """An entry a server (or a proxy before it) refuses as too large is kept aside as
    ``*.damaged``, its bytes whole: the spool held its only copy (it was deleted)."""
    spool = Spool(tmp_path / "spool")
    with answering(_http("413 Request Entity Too Large", b"<html>nginx</html>")) as url:
        kept = spool.keep(b'{"big": 1}', url, "notebook")
        results, left, _ = spool.send_reporting("a-token-long-enough")
    assert [(r.outcome, r.source) for r in results] == [("rejected", "notebook")]
    assert "set aside as" in str(results[0].reason)
    assert (left, spool.entries()) == (0, [])
    (aside,) = spool.set_aside()
    assert aside == kept.with_suffix(".damaged")
    assert base64.b64decode(json.loads(aside.read_bytes())["summary"]) == b'{"big": 1}'


@pytest.mark.timeout(60)
def test_a_server_found_unreachable_is_not_tried_again_by_the_same_caller(
    tmp_path: Path,
) -> None:
    """Pushing many summaries with one ``unreachable`` dict, a hung server is waited for
    once: the rest for it are spooled at once (each file waited out the timeout again)."""
    spool, connections = Spool(tmp_path / "spool"), list[socket.socket]()
    unreachable: dict[str, str] = {}
    with hung(connections) as url:
        results = [
            push(b'{"n": %d}' % n, url=url, token="a-token-long-enough", spool=spool.folder,
                 timeout=0.5, unreachable=unreachable)
            for n in range(3)
        ]  # fmt: skip
    assert [r.outcome for r in results] == ["spooled"] * 3
    assert len(connections) == 1
    assert len(spool.entries()) == 3


@pytest.mark.timeout(30)
def test_a_refusal_still_says_what_the_spool_sent_before_it(tmp_path: Path) -> None:
    """A summary refused (a URL that is no gatewatch server) after the spool was sent
    carries what became of the spool's entries (they were sent, and removed, unsaid)."""
    spool = Spool(tmp_path / "spool")
    with answering(_http("200 OK", GATEWATCH_ANSWER)) as live, answering(_http("404 No")) as typo:
        spool.keep(b'{"n": 1}', live, "kept")
        with pytest.raises(PushRefusedError) as refused:
            push(b"{}", url=typo, token="a-token-long-enough", spool=spool.folder)
    assert [(r.source, r.outcome) for r in refused.value.earlier] == [("kept", "archived")]
    assert spool.entries() == []


def test_a_file_is_sent_as_its_host_and_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named relatively is sent (and kept) as ``host:/absolute/path``: the same
    relative name on two GPU hosts was one source in the archive."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a_summary.json").write_bytes(b"{}")
    monkeypatch.chdir(tmp_path)
    result = push(
        Path("runs/a_summary.json"), url=f"http://127.0.0.1:{free_port()}", token="t" * 20,
        spool=tmp_path / "spool",
    )  # fmt: skip
    expected = f"{socket.gethostname()}:{tmp_path / 'runs' / 'a_summary.json'}"
    assert (result.outcome, result.source) == ("spooled", expected)
    (kept,) = Spool(tmp_path / "spool").entries()
    assert json.loads(kept.read_text("utf-8"))["source"] == expected
